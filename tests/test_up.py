"""`make up` (`mlc up`): the sandbox and Airflow stay up for a person to click around; the sandbox's connections
are in Airflow's database (the Connections page lists them) and their Test button works as the UI sends it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox.postgres import drop_database, reachable
from sandbox.processes import free_port
from tests.processes import processes_of

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.system


@pytest.mark.xdist_group("airflow_deployments")
def test_up_lists_the_sandbox_connections_and_their_test_button_works(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.pop("AIRFLOW_HOME", None)
    port, out = free_port(), (tmp_path / "up.log").open("w")
    proc = subprocess.Popen([sys.executable, str(REPO / "bin" / "mlc"), "up", "--workdir", str(tmp_path / "up"),
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while "Press Ctrl-C" not in (tmp_path / "up.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "up.log").read_text()[-3000:]
            time.sleep(1)
        printed = (tmp_path / "up.log").read_text()
        password = re.search(r"user: admin\s+password: (\S+)", printed).group(1)
        url = f"http://127.0.0.1:{port}"
        token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

        listed = {c["connection_id"]: c for c in session.get(f"{url}/api/v2/connections", params={"limit": 100},
                                                             timeout=30).json()["connections"]}
        assert {"intacct_default", "exact_online_default", "sterling_default", "sftp_default"} <= set(listed)
        assert "Admin -> Connections" in printed and "intacct_default" in printed
        inbox = re.search(r"Alerts: mailed to (\S+); read them at (\S+)", printed)
        assert inbox and "Sandbox inbox" in requests.get(inbox.group(2), timeout=10).text
        assert "smtp_default" in listed  # the alerts' SMTP connection is the sandbox's mail catcher
        for conn_id in ("intacct_default", "exact_online_default"):  # as the list's Test button sends it
            stored = listed[conn_id]
            form = {"connection_id": conn_id, "conn_type": stored["conn_type"], "host": stored["host"],
                    "login": stored["login"], "password": "***", "port": 0, "schema": "", "description": "",
                    "extra": stored["extra"]}
            answer = session.post(f"{url}/api/v2/connections/test", json=form, timeout=120)
            assert answer.status_code == 200 and answer.json()["status"] is True, (conn_id, answer.text)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        out.close()
    assert processes_of(str(tmp_path / "up")) == [], "mlc up left processes running"
    if reachable() is None:  # make up keeps its metadata database per work folder; this folder is gone after the test
        drop_database(f"mlc_up_{hashlib.sha256(str(tmp_path / 'up').encode()).hexdigest()[:8]}")
    assert json.loads((tmp_path / "up" / "airflow" / "simple_auth_manager_passwords.json").read_text())["admin"]
