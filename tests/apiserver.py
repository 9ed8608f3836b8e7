"""A real ``airflow api-server`` for the system tests: its own home and SQLite metadata, this repo's plugins, one
admin user; started, waited for, and stopped with its process group."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from sandbox.airflow import airflow_env
from sandbox.processes import child_setup, free_port, stop_process

AIRFLOW = str(Path(sys.executable).parent / "airflow")


@contextmanager
def api_server(home: Path, password: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an api-server in ``home`` (user ``admin`` with ``password``); yield its URL."""
    port = free_port()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    env = {**airflow_env(home, port, {}, passwords), **(extra_env or {})}
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, cwd=home, check=True, capture_output=True, timeout=600)
    log = (home / "api-server.log").open("ab")
    proc = subprocess.Popen([AIRFLOW, "api-server"], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=child_setup(signal.SIGTERM))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / "api-server.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc, signal.SIGTERM, "api-server", 30)
        log.close()


def bearer_session(url: str, password: str) -> requests.Session:
    """A requests session logged in as admin through Airflow's token endpoint."""
    token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=10)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session
