"""The sandbox as one process (`python -m sandbox.serve`), as the demo and `make up` start it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mlc.hooks.sftp import HostKeyMismatchError, MlcSFTPHook

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path):
    state_file = tmp_path / "state.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.serve", "--workdir", str(tmp_path / "box"), "--state", str(state_file)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not state_file.exists():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "sandbox did not write its state file"
        time.sleep(0.1)
    yield proc, json.loads(state_file.read_text()), state_file
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_state_lists_every_connection_with_pinned_host_keys(served):
    _, state, _ = served

    conns = {k: json.loads(v) for k, v in state["env"].items()}

    assert sorted(conns) == ["AIRFLOW_CONN_EXACT_ONLINE_DEFAULT", "AIRFLOW_CONN_INTACCT_DEFAULT",
                             "AIRFLOW_CONN_INTACCT_WEST", "AIRFLOW_CONN_SFTP_DEFAULT", "AIRFLOW_CONN_SMTP_DEFAULT",
                             "AIRFLOW_CONN_SNOWFLAKE_DEFAULT",
                             "AIRFLOW_CONN_STAMPLI_SFTP", "AIRFLOW_CONN_STERLING_DEFAULT"]
    assert conns["AIRFLOW_CONN_INTACCT_DEFAULT"]["host"].endswith("/ia/xml/xmlgw.phtml")
    # The second company: the same gateway and sender, its own company id.
    west, first = conns["AIRFLOW_CONN_INTACCT_WEST"], conns["AIRFLOW_CONN_INTACCT_DEFAULT"]
    assert (west["host"], west["extra"]["sender_id"]) == (first["host"], first["extra"]["sender_id"])
    assert (first["extra"]["company_id"], west["extra"]["company_id"]) == ("MLC-DEMO", "MLC-WEST")
    assert conns["AIRFLOW_CONN_SFTP_DEFAULT"]["extra"]["host_key"].startswith("ssh-ed25519 ")
    assert conns["AIRFLOW_CONN_STAMPLI_SFTP"]["extra"]["host_key"] == conns["AIRFLOW_CONN_SFTP_DEFAULT"]["extra"]["host_key"]
    assert conns["AIRFLOW_CONN_SNOWFLAKE_DEFAULT"]["extra"]["protocol"] == "http"


def test_faults_are_armed_from_another_process(served, monkeypatch):
    _, state, _ = served
    for key, value in state["env"].items():
        monkeypatch.setenv(key, value)

    listing = requests.get(f"{state['control_url']}/servers", timeout=5).json()
    armed = requests.post(f"{state['control_url']}/faults/sftp", json={"name": "host_key_change"}, timeout=5)
    with pytest.raises(HostKeyMismatchError):
        MlcSFTPHook(ssh_conn_id="sftp_default").get_conn()
    cleared = requests.delete(f"{state['control_url']}/faults/sftp", timeout=5)

    assert listing["sftp"]["supported"] == ["disconnect", "disk_full", "host_key_change", "slow"]
    assert armed.status_code == 201 and cleared.json() == {"armed": []}
    assert MlcSFTPHook(ssh_conn_id="sftp_default").test_connection() == (True, "Connection successfully tested")
    unknown = requests.post(f"{state['control_url']}/faults/sftp", json={"name": "meteor"}, timeout=5)
    assert unknown.status_code == 400


def test_sigterm_stops_every_server_and_frees_the_ports(served):
    proc, state, state_file = served
    ports = [s["port"] for s in state["servers"].values()]

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(timeout=20) == 0
    assert not state_file.exists()
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepts connections"
