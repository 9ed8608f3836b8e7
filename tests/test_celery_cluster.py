"""The five DAGs on a distributed Airflow: CeleryExecutor, PostgreSQL, Redis, two workers, one killed twice.

Scheduler, dag-processor, api-server and two Celery workers run as separate processes against a
PostgreSQL database of their own and the local Redis (sandbox/cluster.py). Every DAG runs to
success against the sandbox. Then a worker is SIGKILLed while it delivers the 810 file (the SFTP
server holds the upload open) and, later, while it posts Stampli invoices to Intacct (the gateway
holds the create request, and commits it after the worker is gone): each task is retried on the
other worker, and the partner has each file once, Intacct each bill once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from sandbox.cluster import WORKERS, CeleryAirflow
from sandbox.demo import dag_ids, summary_rows, trigger_every_dag, wait_for_runs
from sandbox.processes import free_port, sandbox
from tests.processes import processes_of

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.system


class Fault:
    def __init__(self, control_url: str) -> None:
        self.url = control_url

    def arm(self, server: str, name: str, times: int | None = 1, **params) -> None:
        answer = requests.post(f"{self.url}/faults/{server}", json={"name": name, "times": times, "params": params},
                               timeout=10)
        assert answer.status_code == 201, answer.text

    def armed(self, server: str) -> list[str]:
        return [f["name"] for f in requests.get(f"{self.url}/faults/{server}", timeout=10).json()["armed"]]

    def clear(self, server: str, name: str) -> None:
        requests.delete(f"{self.url}/faults/{server}", params={"name": name}, timeout=10).raise_for_status()


class WorkerKiller:
    """Kill the worker running ``task_id`` of any run of ``dag_id`` once ``in_flight()`` says the write is under
    way; restart the killed worker (as a supervisor would) only after the retry started on the other one."""

    def __init__(self, cluster: CeleryAirflow, dag_id: str, task_id: str, in_flight, after_kill) -> None:
        self.cluster, self.dag_id, self.task_id = cluster, dag_id, task_id
        self.in_flight, self.after_kill = in_flight, after_kill
        self.killed: str | None = None
        self.run_id: str | None = None
        self.restarted = False

    def tick(self) -> None:
        if self.restarted:
            return
        if self.killed is None:
            listing = self.cluster.api("GET", f"/dags/{self.dag_id}/dagRuns/~/taskInstances",
                                       params={"task_id": self.task_id, "state": "running"})["task_instances"]
            running = [ti for ti in listing if ti.get("hostname") in WORKERS]
            if running and self.in_flight():
                self.killed, self.run_id = running[0]["hostname"], running[0]["dag_run_id"]
                self.cluster.kill_worker(self.killed)
                self.after_kill()
            return
        ti = self.cluster.task_instance(self.dag_id, self.run_id, self.task_id)
        if ti.get("hostname") not in (None, "", self.killed) and ti["try_number"] > 1:
            self.cluster.start_worker(self.killed)
            self.restarted = True

    def tries(self) -> list[dict]:
        return self.cluster.tries(self.dag_id, self.run_id, self.task_id)


# The two whole Airflow deployments take turns on one worker: side by side on two cores they would compete for
# every cycle (CI once timed the demo out while other tests ran beside it).
@pytest.mark.xdist_group("airflow_deployments")
def test_every_dag_on_celery_and_a_killed_worker_loses_and_duplicates_nothing(tmp_path):
    before = processes_of(str(tmp_path))
    expected = dag_ids(REPO / "dags")
    with sandbox(tmp_path) as state:
        fault = Fault(state["control_url"])
        # Tasks retry after 5 s here (the DAGs wait minutes): the retry on the other worker is what is tested.
        cluster = CeleryAirflow(tmp_path / "airflow", free_port(), state["env"], retry_delay=timedelta(seconds=5))
        try:
            cluster.start(timeout=300)
            cluster.wait_for_dags(expected)

            # Phase 1: every DAG but the Stampli poller; the worker delivering the 810 file dies mid-upload.
            fault.arm("sftp", "slow", times=None, seconds=600, path_contains="MLC_810")
            first = [d for d in expected if d != "stampli_to_intacct"]
            triggered = trigger_every_dag(cluster, first)
            delivery = WorkerKiller(cluster, "intacct_to_sftp__acme", "deliver_bills", in_flight=lambda: True,
                                    after_kill=lambda: fault.clear("sftp", "slow"))
            runs = wait_for_runs(cluster, triggered, timeout=900, on_tick=delivery.tick)

            # Phase 2: the worker posting Stampli invoices dies while Intacct holds (then commits) the create.
            fault.arm("intacct", "slow", times=1, seconds=30, body_contains="<create>")
            triggered_2 = trigger_every_dag(cluster, ["stampli_to_intacct"])
            posting = WorkerKiller(cluster, "stampli_to_intacct", "post_invoices",
                                   in_flight=lambda: "slow" not in fault.armed("intacct"), after_kill=lambda: None)
            runs.update(wait_for_runs(cluster, triggered_2, timeout=900, on_tick=posting.tick))

            rows = summary_rows(cluster, runs)
            deliver_tries, post_tries = delivery.tries(), posting.tries()
        finally:
            cluster.stop()

    # Every DAG ran to success on the cluster.
    assert {r[0] for r in rows} == set(expected)
    assert not [r for r in rows if r[2] != "success"], [r for r in rows if r[2] != "success"]

    # Each killed task was retried on the other worker.
    for killer, tries in ((delivery, deliver_tries), (posting, post_tries)):
        assert killer.killed in WORKERS and killer.restarted
        assert tries[0]["hostname"] == killer.killed and tries[0]["state"] == "failed"
        assert tries[-1]["state"] == "success" and tries[-1]["hostname"] not in (killer.killed, None, "")

    # The partner has each file once: no leftover .part, no two files with the same content.
    outbound = tmp_path / "sandbox" / "sftp" / "partner" / "outbound"
    files = [p for p in outbound.iterdir() if p.is_file()]
    assert not [p.name for p in files if p.name.endswith(".part")]
    bill_files = [p for p in files if p.name.startswith("MLC_810_")]
    assert bill_files and len(bill_files) == len({p.name for p in bill_files})
    digests = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    assert max(digests.values()) == 1

    # Intacct has each good Stampli invoice once.
    stampli = tmp_path / "sandbox" / "sftp" / "stampli"
    (source,) = (stampli / "outbound" / "archive" / "invoices").glob("stampli_invoices_*.csv")
    numbers = {row["Invoice Number"] for row in csv.DictReader(io.StringIO(source.read_text(encoding="utf-8-sig")))}
    rejected = {row["Invoice Number"] for report in (stampli / "errors").glob("*_errors_*.csv")
                for row in csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig")))}
    with sqlite3.connect(tmp_path / "sandbox" / "intacct" / "intacct.db") as db:
        posted = Counter(r for (r,) in db.execute('SELECT "RECORDID" FROM "APBILL" WHERE "RECORDID" LIKE ?',
                                                  ["STP-%"]))
    assert posted and max(posted.values()) == 1
    assert set(posted) == numbers - rejected

    time.sleep(1)
    assert processes_of(str(tmp_path)) == before, "the cluster left processes running"
