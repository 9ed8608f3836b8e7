"""mlc_connections_check end to end with dag.test() against the sandbox servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlc.operators.audit import parse_audit_line
from sandbox.snowflake import SnowflakeSandbox

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def snowflake_server():
    with SnowflakeSandbox() as server:
        yield server


@pytest.fixture
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / "mlc_connections_check.py"), safe_mode=False).dags[
        "mlc_connections_check"
    ]


@pytest.fixture
def sandbox(sftp_connections, snowflake_server, use_connections):
    use_connections(snowflake_server.connections())
    return sftp_connections


def _audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def test_all_checks_pass_and_leave_nothing_behind(dag, sandbox, capsys):
    run = dag.test()
    log = capsys.readouterr().out

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states == {"check_sftp_default": "success", "check_stampli_sftp": "success", "check_snowflake": "success",
                      "needs_a_person": "skipped", "watcher": "skipped"}  # they run only when a check failed
    sftp = run.get_task_instance("check_sftp_default").xcom_pull(task_ids="check_sftp_default")
    assert sftp["status"] == "ok" and len(sftp["sha256"]) == 64 and sftp["host_key"].startswith("ssh-ed25519 SHA256:")
    assert list(sandbox.home("partner").iterdir()) == [] and list(sandbox.home("stampli").iterdir()) == []
    audits = sorted(_audits(log), key=lambda a: a["task_id"])
    assert [(a["event"], a["task_id"], a["conn_id"], a["dag_id"]) for a in audits] == [
        ("connection_checked", "check_sftp_default", "sftp_default", "mlc_connections_check"),
        ("connection_checked", "check_snowflake", "snowflake_default", "mlc_connections_check"),
        ("connection_checked", "check_stampli_sftp", "stampli_sftp", "mlc_connections_check"),
    ]
    assert all(a["run_id"] == run.run_id for a in audits)


def test_a_changed_host_key_fails_only_that_check_and_says_why(dag, sandbox, capsys):
    sandbox.inject("host_key_change")
    for task in dag.tasks:  # dag.test() would sit out the retry delays; the message is what is tested
        task.retries = 0

    run = dag.test()
    log = capsys.readouterr().out

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_snowflake"] == "success"
    assert states["check_sftp_default"] == "failed"
    assert states["check_stampli_sftp"] == "failed"
    assert log.count("Host key verification failed for 127.0.0.1") >= 2
    assert "server offered ssh-ed25519 SHA256:" in log
    assert not [a for a in _audits(log) if a["kind"] == "sftp"], "a failed check must not audit success"
    # Both wait for a person under Required Actions, with what the alert says to do about a changed key.
    from tests.dagrun import asset_events

    assert run.state == "failed" and states["needs_a_person"] == "success" and states["watcher"] == "failed"
    (report,) = [extra for name, extra, _task in asset_events(run.run_id) if name == "mlc_needs_a_person"]
    assert [item["what"].split(":")[0] for item in report["items"]] == [
        "Task check_sftp_default failed", "Task check_stampli_sftp failed"]
    assert all(item["do"].startswith("The SFTP server presented another host key") for item in report["items"])


def test_params_point_the_checks_at_other_connections(dag, sandbox, use_connections):
    use_connections({"other_sftp": sandbox.connection("stampli")})

    run = dag.test(run_conf={"sftp_conn_id": "other_sftp"})

    result = run.get_task_instance("check_sftp_default").xcom_pull(task_ids="check_sftp_default")
    assert run.state == "success"
    assert result["conn_id"] == "other_sftp"
    assert json.dumps(result)  # XCom stays JSON-native
