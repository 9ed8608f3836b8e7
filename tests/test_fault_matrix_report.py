"""The table `make faults` prints, and its verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "fault_matrix_report.py"
ROW = {"dag": "intacct_to_sftp", "fault": "rate limit", "outcome": "success", "expected": 7, "lost": 0,
       "duplicated": 0, "log": "Intacct call failed (attempt 1 of 6), retrying in 0.9 s"}


def report(tmp_path, rows) -> subprocess.CompletedProcess:
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return subprocess.run([sys.executable, str(REPORT), str(source), "--json", str(tmp_path / "out.json")],
                          capture_output=True, text=True)


def test_a_clean_matrix_prints_every_row_and_passes(tmp_path):
    failed = {**ROW, "fault": "host key change", "outcome": "deliver_bills failed; replay succeeded",
              "log": "HostKeyMismatchError: Host key verification failed"}
    done = report(tmp_path, [ROW, failed])
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["DAG", "fault", "outcome", "records", "lost", "dup", "what", "the", "log", "says"]
    assert "deliver_bills failed; replay succeeded" in lines[3]
    assert "2 cases over 1 DAGs: 0 records lost, 0 duplicated, 1 runs failed and were replayed, 0 bad cells" in done.stdout
    assert json.loads((tmp_path / "out.json").read_text())[1]["fault"] == "host key change"


def test_a_lost_record_or_an_unnamed_failure_fails_the_report(tmp_path):
    assert report(tmp_path, [{**ROW, "lost": 1}]).returncode == 1
    assert report(tmp_path, [{**ROW, "duplicated": 2}]).returncode == 1
    assert report(tmp_path, [{**ROW, "outcome": "extract_bills failed; replay succeeded", "log": ""}]).returncode == 1
    assert report(tmp_path, []).returncode == 1
