"""Test harness: an isolated AIRFLOW_HOME, the repo's dags/plugins, and sandbox fixtures.

Airflow reads its configuration when first imported, so everything below the docstring that
touches the environment runs before any test module imports airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mlc-test-airflow-"))

for _key in [k for k in os.environ if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
    del os.environ[_key]
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "MLC_STAGING_URL": f"file://{AIRFLOW_HOME / 'staging'}",
    "AIRFLOW__CORE__FERNET_KEY": "kU3l7Qm9zV2xYj8pN4rT6wB1cE5gH0aLdFsKqOiUyZM=",  # test-only key: tokens are stored encrypted
})
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

import pytest  # noqa: E402

from sandbox.servers import build_sftp  # noqa: E402
from sandbox.sftp import SftpSandbox  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def short_retry_waits() -> Iterator[None]:
    """Every hook's retry waits, shortened for the whole session in this one place (``MLC_RETRY_POLICY``,
    mlc/hooks/retry.py): the number of attempts stays as deployed, so a fault still takes the same path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLC_RETRY_POLICY", "base=0.01,cap=0.05")
        yield


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database (SQLite, in the test AIRFLOW_HOME), once per session."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def sftp_sandbox(tmp_path: Path) -> Iterator[SftpSandbox]:
    """The sandbox SFTP server on a free port: ``partner`` (key) and ``stampli`` (password)."""
    with build_sftp(tmp_path / "sftp") as server:
        yield server


@pytest.fixture
def use_connections(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, dict]], None]:
    """Expose connections (conn id -> JSON form) to Airflow as ``AIRFLOW_CONN_*`` for one test."""

    def _use(connections: dict[str, dict]) -> None:
        for conn_id, conn in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    return _use


@pytest.fixture
def sftp_connections(sftp_sandbox: SftpSandbox, use_connections: Callable) -> SftpSandbox:
    """``sftp_default`` and ``stampli_sftp`` pointing at the sandbox, host key pinned."""
    use_connections(sftp_sandbox.connections())
    return sftp_sandbox


@pytest.fixture
def smtp_inbox(use_connections: Callable, monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """A real SMTP server on loopback (aiosmtpd) behind ``smtp_default``; alerts go to ``ap-oncall@example.com``.
    Yields the list of received ``email.message.EmailMessage``s."""
    import email
    import email.policy

    from aiosmtpd.controller import Controller

    received: list = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            message = email.message_from_bytes(envelope.original_content or envelope.content,
                                               policy=email.policy.default)
            received.append(message)
            return "250 OK"

    from sandbox.processes import free_port

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        use_connections({"smtp_default": {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                                          "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 1,
                                                    "from_email": "ml-connector@example.com"}}})
        monkeypatch.setenv("MLC_ALERT_TO", "ap-oncall@example.com")
        yield received
    finally:
        controller.stop()


@pytest.fixture
def mlc_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: None) -> Iterator[Path]:
    """What a DAG run needs besides its servers: its own state database and staging, the Intacct
    pool, and no Intacct session left over from another test."""
    from airflow.models.pool import Pool

    from mlc.hooks.intacct import IntacctHook

    monkeypatch.setenv("MLC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("MLC_STAGING_URL", f"file://{tmp_path / 'staging'}")
    for pool in ("intacct_default", "exact_online_default"):
        Pool.create_or_update_pool(pool, slots=1, description="tests", include_deferred=False)
    IntacctHook.forget_sessions()
    yield tmp_path
    IntacctHook.forget_sessions()
