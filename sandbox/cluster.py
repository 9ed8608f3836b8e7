"""Airflow as customers run it: CeleryExecutor on PostgreSQL and Redis, every component its own process.

``CeleryAirflow`` starts a scheduler, a dag-processor, an api-server and two Celery workers
against a PostgreSQL database of its own (plus one for ml-connector's state) and the local Redis,
with the staging folder on a path both workers share. Workers are named (``worker-1``,
``worker-2``): the name is the task instance's hostname in the UI, so a test can kill the worker
that runs a given task and watch the task retried on the other. Everything it starts it stops,
and its databases and Redis keys are dropped.

Used by ``tests/test_celery_cluster.py`` and ``bin/mlc demo --executor celery``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil

from sandbox.airflow import Airflow
from sandbox.postgres import PG, create_database, drop_database
from sandbox.processes import child_setup, free_port, say

REDIS = os.environ.get("MLC_CLUSTER_REDIS", "redis://127.0.0.1:6379/0")
WORKERS = ("worker-1", "worker-2")


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: the worker's name, so each task instance shows where it ran."""
    return os.environ.get("MLC_WORKER_NAME") or psutil.Process().name()


def _family(pid: int) -> list[psutil.Process]:
    """A process and every process under it (empty when it is gone)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_family(family: list[psutil.Process]) -> int:
    """SIGKILL each of ``family`` still alive and wait for them; how many there were."""
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    return len(family)


class CeleryAirflow(Airflow):
    """Scheduler, dag-processor, api-server and two Celery workers as separate processes.

    ``retry_delay`` caps every task's retry delay, as for ``Airflow``.
    """

    def __init__(self, home: Path, api_port: int, connections: dict[str, str],
                 retry_delay: timedelta | None = None) -> None:
        super().__init__(home, api_port, connections, retry_delay)
        self.name = f"mlc_cluster_{secrets.token_hex(4)}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.env.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{PG}/{self.name}",
            "AIRFLOW__CELERY__BROKER_URL": REDIS,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{PG.replace('+psycopg2', '')}/{self.name}",
            # Keys of this cluster only, so a shared Redis is left as it was found.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{self.name}:",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # A worker that dies is noticed in seconds, not the default five minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "MLC_STATE_URL": f"{PG}/{self.name}_state",
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                           self.env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        })

    # -- processes -----------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        log = (self.home / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), *args], cwd=self.home, env={**self.env, **(extra_env or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=child_setup(signal.SIGTERM))
        log.close()

    def launch(self) -> None:
        create_database(self.name)
        create_database(f"{self.name}_state")
        migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], cwd=self.home,
                                 env=self.env, capture_output=True, text=True, timeout=600)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
        self._spawn("api-server", ["api-server"])
        self._spawn("scheduler", ["scheduler"])
        self._spawn("dag-processor", ["dag-processor"])
        for worker in WORKERS:
            self.start_worker(worker)

    def start_worker(self, worker: str) -> None:
        self._spawn(worker, ["celery", "worker", "--celery-hostname", f"{worker}@%h"], {
            "MLC_WORKER_NAME": worker,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sandbox.cluster.worker_hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        })

    def worker_ready(self, worker: str) -> bool:
        log = self.home / f"{worker}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return f"{worker}@" in text and " ready." in text

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs.values())

    def ready(self) -> bool:
        return all(self.worker_ready(w) for w in WORKERS if w in self.procs)

    def kill_worker(self, worker: str) -> int:
        """SIGKILL a worker and every process under it (its task runners too), as a crashed host would."""
        proc = self.procs.pop(worker)
        killed = _kill_family(_family(proc.pid))
        proc.wait(timeout=30)
        say(f"[cluster] killed {worker} ({killed} processes)")
        return killed

    def stop(self) -> None:
        order = [*WORKERS, "scheduler", "dag-processor", "api-server"]
        for name in sorted(self.procs, key=lambda n: order.index(n) if n in order else 0):
            proc = self.procs.pop(name)
            family = _family(proc.pid)  # taken first: children a graceful stop leaves behind are killed too
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    say(f"[cluster] {name} did not stop within 30s; killing it")
            _kill_family(family)
        for name in (self.name, f"{self.name}_state"):
            try:
                drop_database(name)
            except Exception as exc:  # noqa: BLE001 - teardown goes on; the name says what to drop by hand
                say(f"[cluster] could not drop database {name}: {exc}")
        self._forget_redis_keys()

    def _forget_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(REDIS)
        try:
            keys = list(client.scan_iter(match=f"{self.name}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance, oldest first (state, hostname, try_number)."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]
