"""How long each DAG file takes to import in a fresh interpreter with Airflow already loaded: what the
dag-processor pays for every file on every parse. Goal: under a second per file. The baseline, in the
same interpreter, is a DAG file of one EmptyOperator: the cost of Airflow's own DAG machinery.

Each file is imported ``ROUNDS`` times in separate interpreters; the best time counts (the others
measure the machine's noise). No connection is defined: a file that looks one up fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from report import REPO, airflow_child_env, publish  # bench/ is on sys.path when a benchmark runs as a script

ROUNDS = 3
GOAL_MS = 1000.0
BASELINE = '''
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="baseline_empty", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    EmptyOperator(task_id="nothing")
'''
PROBE = '''
import importlib.util, json, sys, time
import airflow.sdk
from airflow.sdk import BaseHook
def _refuse(*a, **k): raise RuntimeError("connection looked up at import time")
BaseHook.get_connection = staticmethod(_refuse)
sys.path[:0] = [sys.argv[1], sys.argv[2]]
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[3])
module = importlib.util.module_from_spec(spec)
started = time.perf_counter(); spec.loader.exec_module(module)
print(json.dumps(time.perf_counter() - started))
'''


def import_seconds(path: Path, env: dict[str, str]) -> float:
    """The best of ``ROUNDS`` imports of ``path``, each in a fresh interpreter."""
    best = float("inf")
    for _ in range(ROUNDS):
        done = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "plugins"), str(REPO / "dags"), str(path)],
                              capture_output=True, text=True, env=env, timeout=300, check=True)
        best = min(best, json.loads(done.stdout.strip().splitlines()[-1]))
    return best


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlc-bench-import-") as work:
        env = airflow_child_env(Path(work))
        baseline_file = Path(work) / "baseline_empty.py"
        baseline_file.write_text(BASELINE)
        baseline = import_seconds(baseline_file, env)
        rows: list[tuple] = [("import of a one-task DAG (baseline), ms", baseline * 1000, "")]
        raw = {"baseline_seconds": baseline, "files": {}}
        for path in sorted((REPO / "dags").glob("*.py")):
            seconds = import_seconds(path, env)
            raw["files"][path.name] = seconds
            rows.append((f"import {path.name}, ms", seconds * 1000, f"<= {GOAL_MS:,.0f}",
                         seconds / baseline if baseline else None))
    publish("dag_import", rows, raw)


if __name__ == "__main__":
    main()
