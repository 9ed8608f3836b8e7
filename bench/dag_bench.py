"""Benchmark of a whole DAG through ``dag.test()``: ``intacct_to_sftp`` (issue 5: N bills with 3 lines
each and the vendors changed in the same window, extracted, rendered as X12 810 and CSV, delivered
to the sandbox SFTP server) or, with the argument ``intacct_to_snowflake`` (issue 9), the same bills
MERGEd into Snowflake (fakesnow's server), with the statements sent per table.

The sandbox runs in a process of its own (``python -m sandbox.serve``), so the figures are the
DAG's. Reported per task: wall time, and the peak RSS *growth* while the task ran (the tasks share
one process under ``dag.test()``, so the growth is what each task adds; flat in N means it streams),
plus bytes delivered per second of delivery-task time. Run at N/10 and N to show flatness.
Run with ``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from report import airflow_child_env, publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
BILLS = int(os.environ.get("MLC_BENCH_BILLS", "100000"))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples this process's RSS every 20 ms, so a task's peak can be read from its time span."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.time(), rss_mb()))
            time.sleep(0.02)

    def growth(self, start: float, end: float) -> float:
        inside = [rss for when, rss in self.samples if start <= when <= end]
        before = [rss for when, rss in self.samples if when <= start]
        base = before[-1] if before else (inside[0] if inside else 0.0)
        return max(inside, default=base) - base


def profile(dag_id: str) -> tuple[dict, dict]:
    """(the measured run's conf, the warm-up run's conf) for a DAG."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"window_start": (today - timedelta(days=31)).isoformat(),
              "window_end": (today + timedelta(days=1)).isoformat(), "overlap_minutes": 0}
    if dag_id == "intacct_to_snowflake":
        conf = {**window, "tables": ["vendor", "ap_bill", "ap_bill_item"]}
        return conf, {**conf, "tables": ["gl_account"]}
    conf = {**window, "exports": ["vendors", "bills"], "read_acks": False}
    return conf, {**conf, "exports": ["gl_accounts"]}


def run_dag(result_file: Path, dag_id: str) -> None:
    """Child process: env already points at the sandbox and a fresh AIRFLOW_HOME."""
    sys.path[:0] = [str(REPO), str(REPO / "plugins")]
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.resetdb()
    Pool.create_or_update_pool("intacct_default", slots=1, description="bench", include_deferred=False)
    if dag_id.startswith("intacct_to_sftp__"):  # the sample partner, taking the GL accounts of the warm-up too
        partner = dag_id.split("__")[1]
        folder = result_file.parent / "partners"
        folder.mkdir(exist_ok=True)
        (folder / f"{partner}.yaml").write_text((REPO / "include" / "partners" / f"{partner}.yaml").read_text().replace(
            "    documents:\n", "    documents:\n      gl_accounts: intacct_to_sftp/gl_accounts_csv\n"))
        os.environ["MLC_PARTNERS_DIR"] = str(folder)
    dag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id.split('__')[0]}.py"), safe_mode=False).dags[dag_id]
    for task in dag.tasks:
        task.retries = 0
    import mlc.formats.render  # noqa: F401 - imported before sampling, so no task is charged for imports
    import mlc.hooks.intacct  # noqa: F401
    import mlc.hooks.sftp  # noqa: F401

    conf, warm_up = profile(dag_id)
    # warm-up: a run of the small GL export pays for the first task runner, HTTP, SSH and Snowflake
    # sessions, so the growth measured below is each task's own
    dag.test(run_conf=warm_up)
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    run = dag.test(run_conf=conf)
    wall = time.perf_counter() - started
    sampler.stop.set()
    tasks = {}
    for ti in run.get_task_instances():
        if ti.state != "success" or ti.start_date is None:
            continue
        start, end = ti.start_date.timestamp(), ti.end_date.timestamp()
        xcom = ti.xcom_pull(task_ids=ti.task_id) or {}
        tasks[ti.task_id] = {"seconds": end - start, "rss_growth_mb": sampler.growth(start, end),
                             "bytes": int(xcom.get("bytes") or 0) if isinstance(xcom, dict) else 0,
                             "records": int(xcom.get("records") or 0) if isinstance(xcom, dict) else 0,
                             "tables": xcom.get("tables") if isinstance(xcom, dict) else None}
    result_file.write_text(json.dumps({"state": run.state, "wall_seconds": wall, "tasks": tasks,
                                       "peak_rss_mb": max(r for _, r in sampler.samples)}))


def measure(bills: int, dag_id: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlc-dag-bench-") as tmp:
        work = Path(tmp)
        state = work / "sandbox.json"
        server = subprocess.Popen(
            [sys.executable, "-m", "sandbox.serve", "--workdir", str(work / "sandbox"), "--state", str(state)],
            cwd=REPO, env={**os.environ, "MLC_SANDBOX_INTACCT_BILLS": str(bills)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 1800
            while not state.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start")
                time.sleep(0.5)
            env = airflow_child_env(work, json.loads(state.read_text())["env"])
            result = work / "result.json"
            subprocess.run([sys.executable, __file__, "--run", str(result), dag_id], cwd=REPO, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return json.loads(result.read_text())
        finally:
            server.terminate()
            server.wait(timeout=60)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        run_dag(Path(sys.argv[2]), sys.argv[3])
        return 0
    dag_id = sys.argv[1] if len(sys.argv) > 1 else "intacct_to_sftp__acme"  # the sample partner's DAG
    small, big = measure(max(100, BILLS // 10), dag_id), measure(BILLS, dag_id)
    for label, result in (("small", small), ("big", big)):
        if result["state"] != "success":
            raise SystemExit(f"the {label} {dag_id} run ended {result['state']}")
    rows = [(f"{dag_id} wall time s, {BILLS:,} bills", big["wall_seconds"], "")]
    for name in sorted(big["tasks"], key=lambda n: (n.split("_", 1)[-1], n)):
        task = big["tasks"][name]
        rows.append((f"  {name} s", task["seconds"], ""))
        rows.append((f"  {name} RSS growth MB (N/10 -> N)", task["rss_growth_mb"],
                     f"flat: {small['tasks'].get(name, {}).get('rss_growth_mb', 0):.1f} at N/10"))
        for table, figures in sorted((task.get("tables") or {}).items()):
            before = ((small["tasks"].get(name) or {}).get("tables") or {}).get(table, {}).get("statements")
            rows.append((f"  {table}: statements (N/10 -> N)", float(figures["statements"]),
                         f"constant: {before} at N/10"))
    if dag_id.startswith("intacct_to_sftp"):
        delivered = sum(t["bytes"] for name, t in big["tasks"].items() if name.startswith("deliver_"))
        seconds = sum(t["seconds"] for name, t in big["tasks"].items() if name.startswith("deliver_"))
        rows.append(("DAG bytes delivered/s", delivered / seconds if seconds else 0.0, ""))
    rows.append((f"{dag_id} process peak RSS MB (N/10 -> N)", big["peak_rss_mb"],
                 f"flat: {small['peak_rss_mb']:.1f} at N/10"))
    publish(dag_id.split("__")[0], rows, {"small": small, "big": big})  # the integration's section
    return 0


if __name__ == "__main__":
    sys.exit(main())
