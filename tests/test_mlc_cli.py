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
    out = done.stdout.decode()
    # each error names the segment's tag and its number as `mlc inspect` shows it, the element and the bad value
    assert "segment UNS #22 (21 in its message): too many repetitions" in out
    assert "segment QTY #11 (10 in its message): invalid value\n      QTY01.2: invalid value: '1020A'" in out
    assert "       11 QTY QTY01.1='47' QTY01.2='1020A'" in mlc("inspect", str(SAMPLES / "staedi_edifact_invoic_d97b_INVALID.edi")).stdout.decode()
    assert done.stdout.endswith(b"INVALID\n")


def test_validate_names_an_x12_elements_position_and_value(tmp_path):
    bad = tmp_path / "bad.x12"
    bad.write_bytes(b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *261121*0600*U*00401*000000001"
                    b"*0*P*>~GS*IN*A*B*20261121*0600*1*X*004010~ST*810*0001~BIG*2026X102*INV1~N1*RE*Acme~"
                    b"IT1*1*ABC*EA*10~TDS*1000~SE*6*0001~GE*1*1~IEA*1*000000001~")
    out = mlc("validate", str(bad)).stdout.decode()
    assert "segment BIG #4 (2 in its set): segment has data element errors" in out
    assert "BIG01 (element 373): invalid date: '2026X102'" in out
    assert "IT102 (element 358): invalid character in data element: 'ABC'" in out


def test_read_ack_summarises_for_a_person():
    done = mlc("read-ack", "--summary", str(SAMPLES / "staedi_x12_997_5010_reject_837.edi"))
    assert done.stdout.decode().splitlines() == [
        "X12 acknowledgment 508121953 from ReceiverID to Sender",
        "  group HC 000001: rejected (0 of 1 set(s) accepted)",
        "    set 837 0021: rejected",
        "      set error 5: one or more segments in error",
        "      segment NM1 8 in its set: 8 segment has data element errors",
        "        NM108 (element 66): 7 invalid code value: 'MI'"]


def test_the_clis_control_numbers_are_the_dags_when_their_state_is_known(tmp_path, records, monkeypatch):
    import os

    from mlc.state.control_numbers import SqlControlNumberStore

    url = f"sqlite:///{tmp_path / 'state.db'}"
    assert SqlControlNumberStore(url).allocate("ISA|ZZ:MLCBUYER|ZZ:ACMESUPPLY", "a DAG's run") == 1
    env = {**os.environ, "MLC_STATE_URL": url}
    shared = subprocess.run([sys.executable, str(REPO / "bin" / "mlc"), "render", str(MAPPING), str(records)],
                            capture_output=True, timeout=120, env=env)
    assert b"*000000002*" in shared.stdout.split(b"~")[0]  # the next number after the DAG's, never the same
    assert b"control numbers from the DAGs' state (MLC_STATE_URL)" in shared.stderr
    own = mlc("render", str(MAPPING), str(records), "--control-file", str(tmp_path / "cn.json"))
    assert b"*000000001*" in own.stdout.split(b"~")[0] and b"the CLI's own, apart from the DAGs'" in own.stderr


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


def _isa(sender: str) -> str:
    return (f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{sender:<15}*ZZ*RECEIVERID     *240115*1200*U*00401*000000001*0*P*>~")


# Inputs an analyst may feed the tools, hostile or broken: each gets a result or one line and exit 2.
HOSTILE = {
    "empty": b"",
    "una_only": b"UNA:+.? '",
    "unb_only": b"UNB+UNOA:3+A:14+B:14+240115:1200+1'",
    "isa_only": _isa("SENDERID").encode(),
    "truncated_isa": _isa("SENDERID").encode()[:60],
    "escapes_in_data": (_isa("\x1b[31mEVIL\x1b[0m") + "GS*IN*A*B*20240115*1200*1*X*004010~ST*810*0001~"
                        "BIG*20240115*\x1b]0;pwned\x07~SE*3*0001~GE*1*1~IEA*1*000000001~").encode("latin-1"),
    "bidi_and_c1": (_isa("SENDERID") + "GS*IN*A*B*20240115*1200*1*X*004010~ST*810*0001~BIG*20240115*\u202eX\u2028"
                    "~SE*3*0001~GE*1*1~IEA*1*000000001~").encode("utf-8") + b"\x9b",
    "release_at_end": b"UNA:+.? 'UNB+UNOA:3+A:14+B:14+240115:1200+1'UNH+1+INVOIC:D:96A:UN'BGM+380+X?",
    "binary": bytes(range(256)) * 4,
    "bom_then_junk": b"\xef\xbb\xbfISA*junk",
    "deep_composites": b"UNA:+.? 'UNB+UNOA:3+A:14+B:14+240115:1200+1'UNH+1+INVOIC:D:96A:UN'BGM+" + b":" * 50000
                       + b"'UNT+3+1'UNZ+1+1'",
    "not_utf8_edifact": b"UNB+UNOY:3+A:14+B:14+240115:1200+1'UNH+1+INVOIC:D:96A:UN'BGM+380+\xff\xfe'UNT+3+1'UNZ+1+1'",
}


@pytest.mark.parametrize("command", ["validate", "ack", "read-ack", "inspect"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_no_input_makes_a_tool_crash_or_write_raw_control_characters(name, command, tmp_path, capfdbinary):
    from mlc.cli import main

    path = tmp_path / f"{name}.edi"
    path.write_bytes(HOSTILE[name])

    code = main([command, str(path), *(["--control-file", str(tmp_path / "cn.json")] if command == "ack" else [])])

    out, err = capfdbinary.readouterr()
    assert code in (0, 1, 2)
    assert b"Traceback" not in err and b"Traceback" not in out
    if code == 2:
        assert err.count(b"\n") == 1 and err.startswith(f"mlc {command}: ".encode())
    printed = (out if command != "ack" else b"") + err
    assert not any(ch in printed.decode("utf-8", "replace") for ch in "\x1b\x07\x9b\u202e\u2028"), printed[:300]


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch, capsys):
    from mlc.cli import main

    monkeypatch.setenv("MLC_MAX_INPUT_MB", "1")
    path = tmp_path / "big.x12"
    path.write_bytes(_isa("SENDERID").encode() + b"GS*IN*A*B*20240115*1200*1*X*004010~" + b"X" * (1024 * 1024))

    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"mlc validate: {path}: larger than the 1 MiB the tools read (MLC_MAX_INPUT_MB)\n"


def _bomb() -> str:
    lines = ["format: csv", "description: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"d{i}: &a{i} [*a, *a, *a, *a, *a, *a, *a, *a, *a]" for i in range(10)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("mapping", "message"), [
    (_bomb(), ":3: an alias (*a) is not allowed in a mapping: write the value out"),
    ("format: csv\ncolumns:\n  - " + "[" * 20000 + "]" * 20000 + "\n", ": nested too deep to be a mapping"),
    ("- just\n- a list\n", ": the mapping must be a mapping of keys to values"),
])
def test_junk_mappings_are_one_line(mapping, message, tmp_path, capsys):
    from mlc.cli import main

    (tmp_path / "m.yaml").write_text(mapping)
    (tmp_path / "r.jsonl").write_text("{}\n")

    assert main(["render", str(tmp_path / "m.yaml"), str(tmp_path / "r.jsonl")]) == 2
    assert capsys.readouterr().err == f"mlc render: {tmp_path / 'm.yaml'}{message}\n"


@pytest.mark.parametrize(("line", "message"), [
    (b'{"RECORDID": "\xff"}\n', ":1: not UTF-8 (byte 15 of the line)"),
    (b'{"TOTALENTERED": ' + b"9" * 100000 + b"}\n",
     ":1: not usable JSON: Exceeds the limit (4300 digits) for integer string conversion: value has 100000 digits"),
    (b"[" * 100000 + b"]" * 100000 + b"\n", ":1: not usable JSON: nested too deep"),
])
def test_records_that_are_not_json_objects_are_one_line(line, message, tmp_path, capsys):
    from mlc.cli import main

    (tmp_path / "r.jsonl").write_bytes(line)

    assert main(["render", str(MAPPING), str(tmp_path / "r.jsonl")]) == 2
    assert capsys.readouterr().err == f"mlc render: {tmp_path / 'r.jsonl'}{message}\n"


@pytest.mark.parametrize("amount", ["1E+30", 1e30, "1" + "0" * 40, "-9999999999999999"])
def test_amounts_too_large_for_a_ledger_are_a_rejected_record(amount, tmp_path, capsys):
    from mlc.cli import main

    bill = {"RECORDID": "B1", "WHENCREATED": "2026-11-02", "VENDORNAME": "Acme", "TOTALENTERED": amount,
            "APBILLITEMS": {"APBILLITEM": [{"TRX_AMOUNT": "10"}]}}
    (tmp_path / "r.jsonl").write_text(json.dumps(bill) + "\n")

    assert main(["render", str(MAPPING), str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "o.x12"),
                 "--control-file", str(tmp_path / "cn.json")]) == 1
    err = capsys.readouterr().err
    assert "rejected record 1 (B1) field 'total': " in err and "too large for an amount" in err


def test_render_without_records_renders_the_mappings_samples(tmp_path, capsys):
    from mlc.cli import main

    assert main(["render", "exact_online_to_sftp/payments_x12_820", "-o", str(tmp_path / "o.x12"),
                 "--control-file", str(tmp_path / "cn.json")]) == 0
    assert capsys.readouterr().err.startswith("rendered 4 record(s), ")
    assert (tmp_path / "o.x12").read_bytes().count(b"ST*820*") == 4


def _shipment(mutation: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    from tests.edi.records import SHIP_NOTICE
    from tests.test_x12 import render

    return render("856", [SHIP_NOTICE]).replace(*mutation)


@pytest.mark.parametrize(("mutation", "expected"), [
    ((b"HL*3*2*I*0~", b"HL*3*5*I*0~"), b"AK3*HL*8**8~\nAK4*2*734*7*5~"),  # a parent that does not exist
    ((b"PRF*PO-555~", b"PRF*PO-555*~"), b"AK3*PRF*7**8~\nAK4*2**3~"),  # an empty trailing element
    ((b"IEA*1*000000001", b"IEA*1*000000002"), b"TA1*000000001*240115*1200*R*001~"),  # IEA02 is not ISA13
])
def test_the_x12_rules_through_mlc_ack_and_validate(mutation, expected, tmp_path, capfdbinary):
    from mlc.cli import main

    (tmp_path / "in.x12").write_bytes(_shipment(mutation))

    assert main(["ack", str(tmp_path / "in.x12"), "--control-file", str(tmp_path / "cn.json")]) == 0
    ack = capfdbinary.readouterr().out
    assert expected in ack
    assert main(["validate", str(tmp_path / "in.x12")]) == 1
    assert capfdbinary.readouterr().out.endswith(b"INVALID\n")


def test_read_ack_skips_a_byte_order_mark_and_flags_codes_off_the_lists(tmp_path, capfdbinary):
    from mlc.cli import main

    (tmp_path / "in.x12").write_bytes(_shipment())
    assert main(["ack", str(tmp_path / "in.x12"), "--control-file", str(tmp_path / "cn.json")]) == 0
    ack = capfdbinary.readouterr().out
    (tmp_path / "bom.x12").write_bytes(b"\xef\xbb\xbf" + ack)
    (tmp_path / "q.x12").write_bytes(ack.replace(b"AK5*A~", b"AK5*Q~"))

    assert main(["read-ack", str(tmp_path / "bom.x12")]) == 0
    assert json.loads(capfdbinary.readouterr().out)["group_acks"][0]["status"] == "A"
    assert main(["read-ack", str(tmp_path / "q.x12")]) == 1
    assert b"mlc read-ack: invalid: segment 6: AK501 'Q' is not a transaction set acknowledgment code (717)" in \
        capfdbinary.readouterr().err


def test_status_leaves_a_broken_profile_out_and_says_so(tmp_path, monkeypatch, capsys):
    from mlc.cli import main

    folder = tmp_path / "partners"
    folder.mkdir()
    (folder / "acme.yaml").write_text((REPO / "include" / "partners" / "acme.yaml").read_text())
    (folder / "broken.yaml").write_text("partner: broken\nintegrations: [\n")
    monkeypatch.setenv("MLC_PARTNERS_DIR", str(folder))
    monkeypatch.setenv("MLC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")

    assert main(["status"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["acme (ACME Supply): 0 file(s) sent"]
    assert err.startswith("mlc status: profile broken.yaml does not load, left out: ") and "broken.yaml" in err
