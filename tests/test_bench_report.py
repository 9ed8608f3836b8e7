"""The benchmark report: every benchmark's figures in one table, with the ratio to a baseline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "report.py"


def load():
    spec = importlib.util.spec_from_file_location("bench_report", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_one_table_with_goals_and_ratios(tmp_path, capsys):
    report = load()
    results = tmp_path / "results.json"
    report.publish("formats", [("X12 810 invoices/s", 11000.0, ">= 20000", None),
                               ("X12 810 time vs bare baseline", 16.2, "<= 3x", 16.2)], {}, results)
    report.publish("exact_online", [("Exact API calls", 168.0, "<= 300")], {}, results)
    capsys.readouterr()
    lines = report.report(results).splitlines()
    assert lines[0].split() == ["benchmark", "figure", "value", "goal", "x", "baseline"]
    assert lines[1].split()[0] == "formats" and lines[1].endswith(">= 20000")
    assert lines[2].split()[-2:] == ["3x", "16.2x"] and "<= 3x" in lines[2]
    assert lines[3].startswith("exact_online") and "168.0" in lines[3] and lines[3].endswith("<= 300")
