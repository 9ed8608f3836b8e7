"""docker-compose.yaml: no docker daemon runs here, so check its shape instead of running it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


REPO = Path(__file__).resolve().parent.parent
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_services(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", *AIRFLOW_SERVICES, "sandbox", "sandbox-connections"}
    for name, command in AIRFLOW_SERVICES.items():
        if command:
            assert services[name]["command"] == command, name
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2
    assert services["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]
    assert all("healthcheck" in services[s] for s in ("postgres", "redis", "airflow-scheduler", "airflow-worker"))


def test_executor_database_and_broker(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "${AIRFLOW_FERNET_KEY:?" in env["AIRFLOW__CORE__FERNET_KEY"], "no default Fernet key may ship"
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_every_airflow_service_mounts_the_code_and_the_shared_staging(compose):
    for name in AIRFLOW_SERVICES:
        volumes = compose["services"][name]["volumes"]
        for folder in ("dags", "plugins", "include"):
            assert f"./{folder}:/opt/airflow/{folder}" in volumes, (name, folder)
            assert (REPO / folder).is_dir()
        assert "mlc-staging:/opt/airflow/staging" in volumes, name
    assert compose["services"]["airflow-worker"]["environment"]["MLC_STAGING_URL"].endswith("/opt/airflow/staging}")
    assert "mlc-staging" in compose["volumes"]


def test_every_worker_shares_one_state_database_beside_airflows(compose):
    """Ledgers, control numbers and Exact tokens must be one for all workers: a SQLite file per container would
    let two workers send the same file or hand out the same control number."""
    airflow_db = compose["services"]["airflow-worker"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    for name in AIRFLOW_SERVICES:
        state = compose["services"][name]["environment"]["MLC_STATE_URL"]
        assert state.startswith("${MLC_STATE_URL:-postgresql+psycopg2://") and "@postgres/mlc_state}" in state, name
        assert state.split(":-", 1)[1].rstrip("}") != airflow_db, name
    init = compose["services"]["airflow-init"]
    assert "$${MLC_CREATE_STATE_DB}" in init["command"][1] and "CREATE DATABASE" in init["environment"]["MLC_CREATE_STATE_DB"]


def test_image_matches_the_pinned_airflow():
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert base.groups() == (pinned, "3.11")


def test_sandbox_is_an_optional_profile(compose):
    services = compose["services"]
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert services["sandbox-connections"]["profiles"] == ["sandbox"]
    assert all("profiles" not in services[name] for name in AIRFLOW_SERVICES)


@pytest.mark.system  # the airflow CLI, twice
def test_sandbox_profile_connections_import_into_airflow(compose, tmp_path, airflow_db):
    """Run the profile's sandbox command, then import its connections file with the real CLI."""
    args = [a for a in compose["services"]["sandbox"]["command"] if not a.startswith(("--workdir", "--state",
                                                                                        "--connections-file"))]
    args = [a.replace("--port=sftp=2222", "--port=sftp=0").replace("--port=snowflake=8765", "--port=snowflake=0")
            .replace("--port=intacct=8770", "--port=intacct=0").replace("--port=exact=8775", "--port=exact=0").replace("--port=sterling=8780", "--port=sterling=0").replace("--port=snowflake_sqlapi=8766", "--port=snowflake_sqlapi=0").replace("--port=control=8790", "--port=control=0")
            .replace("--host=0.0.0.0", "--host=127.0.0.1") for a in args]
    state, conns = tmp_path / "state.json", tmp_path / "connections.json"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"}
    box = subprocess.Popen([sys.executable, "-m", "sandbox.serve", f"--workdir={tmp_path / 'files'}",
                            f"--state={state}", f"--connections-file={conns}", *args], cwd=REPO, env=env)
    try:
        for _ in range(600):
            if state.exists():
                break
            assert box.poll() is None
            subprocess.run(["sleep", "0.1"], check=True)
        imported = subprocess.run([str(Path(sys.executable).parent / "airflow"), "connections", "import",
                                   "--overwrite", str(conns)], capture_output=True, text=True, env=env)
        got = subprocess.run([str(Path(sys.executable).parent / "airflow"), "connections", "get", "sftp_default",
                              "-o", "json"], capture_output=True, text=True, env=env)
    finally:
        box.terminate()
        box.wait(timeout=20)

    assert imported.returncode == 0, imported.stderr[-1500:]
    assert got.returncode == 0, got.stdout[-1500:] + got.stderr[-1500:]
    stored = json.loads(next(line for line in got.stdout.splitlines() if line.startswith("[")))[0]
    assert (stored["conn_type"], stored["host"], stored["login"]) == ("sftp", "sandbox", "partner")
    assert stored["extra_dejson"]["host_key"].startswith("ssh-ed25519 ")
