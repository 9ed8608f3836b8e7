"""The sandbox as a whole: which servers play which system, and the connections that reach them.

Later emulators (Intacct, Exact Online, Sterling) are added to :func:`build_servers`; the demo,
``make up`` and the tests all start the sandbox through it, so a new server appears everywhere.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.base import SandboxServer
from sandbox.sftp import CLIENT_KEY, SftpSandbox, SftpUser
from sandbox.snowflake import SnowflakeSandbox

# Sandbox-only credential (the sandbox runs on loopback; real connections never use it).
STAMPLI_PASSWORD = "stampli-sandbox-password"  # noqa: S105 - sandbox fixture


def build_sftp(root: Path) -> SftpSandbox:
    """The SFTP server: ``partner`` logs in by key (sftp_default), ``stampli`` by password."""
    client_pub = Path(f"{CLIENT_KEY}.pub").read_text()
    return SftpSandbox(
        root,
        users={"partner": SftpUser(authorized_keys=client_pub), "stampli": SftpUser(password=STAMPLI_PASSWORD)},
        conn_users={
            "sftp_default": {"user": "partner", "key_file": str(CLIENT_KEY)},
            "stampli_sftp": {"user": "stampli"},
        },
    )


def build_servers(workdir: Path) -> list[SandboxServer]:
    """Every sandbox server, not yet started, keeping its state under ``workdir``."""
    return [build_sftp(workdir / "sftp"), SnowflakeSandbox()]
