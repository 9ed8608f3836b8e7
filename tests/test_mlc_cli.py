"""bin/mlc's formats commands as a person runs them: exit codes, stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "edi" / "samples"
MAPPING = REPO / "include" / "mappings" / "intacct_to_sftp" / "bills_x12_810.yaml"


def mlc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bin" / "mlc"), *args], capture_output=True, timeout=120,
                          cwd=cwd)


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "bills.jsonl"
    good = {"RECORDID": "B1", "WHENCREATED": "2026-11-02", "VENDORNAME": "Acme", "VENDORID": "V1",
            "APBILLITEMS": {"APBILLITEM": [{"TRX_AMOUNT": "10"}]}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({"RECORDID": "B2", "VENDORNAME": "X"}) + "\n")
    return path


def test_render_validate_ack_read_ack_inspect(tmp_path, records):
    out, state = tmp_path / "out.x12", str(tmp_path / "cn.json")

    rendered = mlc("render", str(MAPPING), str(records), "-o", str(out), "--control-file", state)
    validated = mlc("validate", str(out))
    ack = mlc("ack", str(out), "--control-file", state)
    (tmp_path / "ack.x12").write_bytes(ack.stdout)
    read = mlc("read-ack", str(tmp_path / "ack.x12"))
    inspected = mlc("inspect", str(out))

    assert rendered.returncode == 1  # one record rejected, the other written
    assert b"rejected record 2 (B2) field 'date': is required" in rendered.stderr
    assert out.read_bytes().count(b"ST*810*") == 1
    assert validated.returncode == 0 and validated.stdout.decode().endswith(f"{out}: VALID\n")
    assert ack.returncode == 0 and ack.stdout.startswith(b"ISA*")
    report = json.loads(read.stdout)
    assert [(g["functional_id"], g["status"], [s["status"] for s in g["sets"]]) for g in report["group_acks"]] == \
        [("IN", "A", ["A"])]
    assert b"      4 BIG BIG01='20261102' BIG02='B1'" in inspected.stdout


def test_validate_reports_errors_and_exits_1():
    done = mlc("validate", str(SAMPLES / "staedi_edifact_invoic_d97b_INVALID.edi"))

    assert done.returncode == 1
    assert b"segment at position 21: too many repetitions" in done.stdout
    assert done.stdout.endswith(b"INVALID\n")


def test_contrl_for_edifact_and_reading_it(tmp_path):
    ack = mlc("ack", str(SAMPLES / "staedi_edifact_invoic_d97b_custom_una.edi"), "--control-file",
              str(tmp_path / "cn.json"))
    (tmp_path / "contrl.edi").write_bytes(ack.stdout)

    report = json.loads(mlc("read-ack", str(tmp_path / "contrl.edi")).stdout)

    assert report["interchange_acks"][0]["control_number"] == "00000000000778"
    assert report["interchange_acks"][0]["action_text"] == "acknowledged"


@pytest.mark.parametrize(("args", "message"), [
    (("validate", "/nonexistent.edi"), b"mlc validate: /nonexistent.edi: cannot read: No such file or directory\n"),
    (("inspect", __file__), b"neither X12 (starts with ISA) nor EDIFACT"),
    (("ack", str(SAMPLES / "staedi_x12_997_5010_reject_837.edi")), b"nothing to acknowledge"),
    (("read-ack", str(SAMPLES / "staedi_x12_997_INVALID_empty.edi")), b"no 997 (AK1) or TA1"),
    (("render", "/nonexistent.yaml", "x.jsonl"), b"cannot read mapping"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    done = mlc(*args, "--control-file", str(tmp_path / "c.json")) if args[0] == "ack" else mlc(*args)

    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


def test_render_refuses_a_bad_jsonl_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"RECORDID": "B1"}\n{oops\n')

    done = mlc("render", str(MAPPING), str(bad), "-o", str(tmp_path / "x"), "--control-file", str(tmp_path / "c"))

    assert done.returncode == 2
    assert done.stderr.startswith(f"mlc render: {bad}:2: not valid JSON".encode())


def test_the_installed_command_and_a_mapping_by_the_name_the_dags_use(tmp_path, records):
    """``mlc`` is a console script of the installed package; it names mappings as the DAG Params do."""
    command = Path(sys.executable).parent / "mlc"
    assert command.is_file(), "make venv installs the package: .venv/bin/mlc"
    helped = subprocess.run([str(command), "--help"], capture_output=True, timeout=120, cwd=tmp_path)
    by_name = subprocess.run([str(command), "render", "intacct_to_sftp/bills_x12_810", str(records), "-o",
                              str(tmp_path / "out.x12"), "--control-file", str(tmp_path / "cn.json")],
                             capture_output=True, timeout=120, cwd=tmp_path)

    assert helped.returncode == 0 and b"mlc demo" in helped.stdout and b"mlc render" in helped.stdout
    assert by_name.returncode == 1 and b"rendered 1 record(s)" in by_name.stderr  # B2 is rejected, as above
    assert (tmp_path / "out.x12").read_bytes().count(b"ST*810*") == 1
