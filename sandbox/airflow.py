"""A real Airflow for the sandbox: ``airflow standalone`` with this repository's dags/ and plugins/,
reaching the sandbox's servers, and a small client of its REST API (pools, DAGs, runs).

``sandbox.cluster.CeleryAirflow`` is the same client over the distributed deployment.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from sandbox.processes import REPO, child_setup, free_port, stop_process


def fernet_key(home: Path) -> str:
    """This Airflow home's Fernet key, made once and kept, so stored secrets survive a restart."""
    path = home / "fernet.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        home.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(home: Path, api_port: int, connections: dict[str, str], password_file: Path) -> dict[str, str]:
    """Environment for an Airflow that reads this repo's dags/plugins and reaches the sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(connections)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the connection form's Test button
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        "MLC_STAGING_URL": f"file://{home / 'staging'}",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


POOLS = {"intacct_default": (1, "Sage Intacct company behind intacct_default: one API call at a time"),
         "exact_online_default": (1, "Exact Online division behind exact_online_default: pages in order, one caller")}


RETRY_POLICY = """\
# Written by sandbox/airflow.py: this deployment's tasks retry after {seconds:g} s at most, whatever their DAG says, so that a demo or a
# test sees a failed task retried in seconds rather than minutes.
from datetime import timedelta

RETRY_DELAY = timedelta(seconds={seconds!r})


def task_policy(task):
    task.retry_delay = min(task.retry_delay, RETRY_DELAY)
    if task.max_retry_delay is not None:
        task.max_retry_delay = min(task.max_retry_delay, RETRY_DELAY)
"""


class Airflow:
    """A running ``airflow standalone`` and a small client of its REST API.

    ``retry_delay`` caps every task's retry delay (an Airflow cluster policy in the deployment's
    ``config/airflow_local_settings.py``): for the demo and tests; left out, the DAGs' own delays apply.
    ``database`` is the metadata database's SQLAlchemy URL; left out, a SQLite file in ``home``, which
    can stall when every DAG starts at once (its scheduler once died of "database is locked").
    """

    def __init__(self, home: Path, api_port: int, connections: dict[str, str],
                 retry_delay: timedelta | None = None, database: str | None = None) -> None:
        self.home = home
        settings = home / "config" / "airflow_local_settings.py"  # Airflow puts config/ on sys.path
        if retry_delay is not None:
            settings.parent.mkdir(parents=True, exist_ok=True)
            settings.write_text(RETRY_POLICY.format(seconds=retry_delay.total_seconds()))
        elif settings.exists():
            settings.unlink()
        self.url = f"http://127.0.0.1:{api_port}"
        self.password_file = home / "simple_auth_manager_passwords.json"
        home.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        self.password = json.loads(self.password_file.read_text())["admin"]
        self.env = airflow_env(home, api_port, connections, self.password_file)
        if database is not None:
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database
        self.proc: subprocess.Popen | None = None
        self._session = requests.Session()

    def start(self, timeout: float = 180) -> None:
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"airflow exited; see the logs in {self.home}")
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).json()
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "dag_processor")) and self.ready():
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"airflow did not become healthy in {timeout:.0f}s; see the logs in {self.home}")
        token = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password},
                              timeout=10)
        token.raise_for_status()
        self._session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self.ensure_pools()

    def launch(self) -> None:
        """Start ``airflow standalone`` (scheduler, dag-processor, api-server, triggerer, LocalExecutor)."""
        log = (self.home / "standalone.log").open("ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"], cwd=self.home, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=child_setup(signal.SIGINT),
        )
        log.close()

    def scheduler_state(self) -> str:
        """The scheduler's health as the API reports it (``healthy``, ``unhealthy``), or why it cannot be read."""
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=10).json()
        except (requests.RequestException, ValueError) as exc:
            return f"health unreadable: {exc}"
        return str((health.get("scheduler") or {}).get("status"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """Anything besides the health endpoint that must be up before work is triggered."""
        return True

    def ensure_pools(self) -> None:
        """One pool per external API account whose concurrency is limited (README, "Connections"): the defaults'
        and every Intacct company and Exact division a partner profile names."""
        from mlc.formats.partner import pools

        wanted = {**POOLS, **{name: (1, description) for name, description in pools().items()}}
        for name, (slots, description) in wanted.items():
            body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
            existing = self._session.get(f"{self.url}/api/v2/pools/{name}", timeout=30)
            if existing.status_code == 200:
                self.api("PATCH", f"/pools/{name}", json=body)
            else:
                self.api("POST", "/pools", json=body)

    def store_connections(self, connections: dict[str, str]) -> list[str]:
        """Write ``AIRFLOW_CONN_<ID>`` connections (JSON form) into Airflow's database, so that they are listed on
        the Connections page, and edited and tested there; an existing one is updated. Return their ids."""
        stored = []
        for variable, value in sorted(connections.items()):
            conn = json.loads(value)
            conn_id = variable.removeprefix("AIRFLOW_CONN_").lower()
            body = {"connection_id": conn_id, "conn_type": conn["conn_type"], "description": "the sandbox's",
                    **{k: conn.get(k) for k in ("host", "login", "password", "port", "schema")},
                    "extra": json.dumps(conn.get("extra") or {})}
            if self._session.get(f"{self.url}/api/v2/connections/{conn_id}", timeout=30).status_code == 200:
                self.api("PATCH", f"/connections/{conn_id}", json=body)
            else:
                self.api("POST", "/connections", json=body)
            stored.append(conn_id)
        return stored

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT, "airflow standalone", 45)
            self.proc = None

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(6):  # standalone's SQLite answers "database is locked" (500) while the scheduler writes
            response = self._session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
            if response.status_code < 500 or attempt == 5:
                break
            time.sleep(1 + attempt)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, expected: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.api("GET", "/importErrors")
            if errors["total_entries"]:
                details = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors["import_errors"])
                raise RuntimeError(f"DAG import errors: {details}")
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 1000})["dags"]}
            if set(expected) <= known:
                return
            time.sleep(1)
        raise RuntimeError(f"DAGs not parsed within {timeout:.0f}s: {sorted(set(expected) - known)}")
