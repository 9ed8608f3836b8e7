"""Benchmark of stampli_to_intacct (issue 6): one Stampli file of 1,000 invoices with 3 lines each,
picked up from the sandbox SFTP server and posted into the sandbox Intacct gateway by ``dag.test()``.

Reports the Intacct requests the run sent (goal: at most 25, by batching creates and reading the
reference data once) and the wall time of the run and of the posting task. The pick-up's settle
time (two looks at the file) is set to 0.5 s here; in production it is the feed's setting.
Run with ``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from report import airflow_child_env, publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
INVOICES = int(os.environ.get("MLC_BENCH_STAMPLI_INVOICES", "1000"))


def run(result_file: Path, work: Path) -> None:
    """Child process: AIRFLOW_HOME and the state/staging URLs are already in the environment."""
    sys.path[:0] = [str(REPO), str(REPO / "plugins")]
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool
    from airflow.utils import db

    from sandbox import stampli
    from sandbox.intacct import IntacctSandbox
    from sandbox.intacct_data import Seed
    from sandbox.servers import build_sftp

    db.resetdb()
    Pool.create_or_update_pool("intacct_default", slots=1, description="bench", include_deferred=False)
    dag = DagBag(dag_folder=str(REPO / "dags" / "stampli_to_intacct.py"), safe_mode=False).dags["stampli_to_intacct"]
    for task in dag.tasks:
        task.retries = 0
        if task.task_id.startswith("pick_up_"):
            task.settle_seconds = 0.5
    with IntacctSandbox(seed=Seed(bills=1000, anchor=datetime(2026, 11, 16))) as gateway, \
            build_sftp(work / "sftp") as sftp:
        for conn_id, conn in {**gateway.connections(), **sftp.connections()}.items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        export = stampli.invoice_export(gateway.store, INVOICES, day=date(2026, 11, 20), lines=(3, 3))
        stampli.drop(sftp.home("stampli"), export, "invoices")
        gateway.requests.clear()
        started = time.perf_counter()
        result = dag.test()
        wall = time.perf_counter() - started
        requests = len(gateway.requests)
        bills = gateway.store.select('SELECT COUNT(*) FROM "APBILL" WHERE "RECORDID" LIKE ?', ["STP-%"])[0][0]
        tasks = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in result.get_task_instances()
                 if ti.start_date and ti.end_date}
    result_file.write_text(json.dumps({"state": result.state, "requests": requests, "bills": bills, "wall": wall,
                                       "tasks": tasks, "invoices": INVOICES}))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        run(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    with tempfile.TemporaryDirectory(prefix="mlc-stampli-bench-") as tmp:
        work = Path(tmp)
        env = airflow_child_env(work)
        result_file = work / "result.json"
        subprocess.run([sys.executable, __file__, "--run", str(result_file), str(work)], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = json.loads(result_file.read_text())
    if result["state"] != "success" or result["bills"] != result["invoices"]:
        raise SystemExit(f"the run ended {result['state']} with {result['bills']} of {result['invoices']} bills")
    rows = [(f"Stampli Intacct requests, {result['invoices']:,} invoices", float(result["requests"]), "<= 25"),
            ("Stampli DAG wall time s", result["wall"], ""),
            ("  post_invoices s", result["tasks"].get("post_invoices", 0.0), ""),
            ("  pick_up_invoices s (0.5 s settle)", result["tasks"].get("pick_up_invoices", 0.0), "")]
    publish("stampli_to_intacct", rows, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
