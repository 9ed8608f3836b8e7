"""Operators that prove a connection works end to end, for the on-call engineer.

A green ``test_connection`` only says a login succeeded. These checks do what the integrations
do: the SFTP check writes a probe file the way deliveries are written (temporary name, size
checked, rename: :meth:`~mlc.hooks.sftp.MlcSFTPHook.put_atomic`), reads it back, compares sha256
and removes it; the Snowflake check opens a session and asks where it landed.
Every check writes one AUDIT line, so the task log says which endpoint and which key answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from mlc.hooks.sftp import MlcSFTPHook, key_fingerprint
from mlc.hooks.snowflake import MlcSnowflakeHook
from mlc.operators.audit import audit
from mlc.operators.staging import staging_dir, write_chunks


class SftpProbeOperator(BaseOperator):
    """Round-trip a small probe file through an SFTP server with the host key verified.

    :param sftp_conn_id: SFTP connection to check. (templated)
    :param remote_dir: Folder the probe is written to and removed from. (templated)
    """

    template_fields: Sequence[str] = ("sftp_conn_id", "remote_dir")
    ui_color = "#d7ecff"

    def __init__(self, *, sftp_conn_id: str = "sftp_default", remote_dir: str = ".", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.remote_dir = remote_dir

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        name = f".mlc-probe-{hashlib.sha256(f'{ti.dag_id}|{ti.run_id}|{ti.task_id}'.encode()).hexdigest()[:16]}"
        staged = staging_dir(context) / f"{name}.txt"
        payload = f"ml-connector SFTP probe\ndag={ti.dag_id}\nrun={ti.run_id}\ntask={ti.task_id}\n".encode()
        sha256, size = write_chunks(staged, [payload])

        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn() as sftp:
            server_key = sftp.get_channel().get_transport().get_remote_server_key()
            final = hook.put_atomic(lambda: staged.open("rb"), self.remote_dir, name, sha256=sha256, size=size,
                                    replace=True, read_back=True).path
            sftp.remove(final)
        result = {
            "conn_id": self.sftp_conn_id,
            "remote_path": final,
            "sha256": sha256,
            "bytes": size,
            "host_key": f"{server_key.get_name()} {key_fingerprint(server_key)}",
            "status": "ok",
        }
        audit("connection_checked", context, logger=self.log, kind="sftp", **result)
        return result


class SnowflakeProbeOperator(BaseOperator):
    """Open a Snowflake session and report the account, database and schema it landed in.

    :param snowflake_conn_id: Snowflake connection to check. (templated)
    """

    template_fields: Sequence[str] = ("snowflake_conn_id",)
    ui_color = "#d7f5ff"

    def __init__(self, *, snowflake_conn_id: str = "snowflake_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snowflake_conn_id = snowflake_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook = MlcSnowflakeHook(snowflake_conn_id=self.snowflake_conn_id)
        row = hook.get_first("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")
        if not row:
            raise RuntimeError(f"Snowflake probe on {self.snowflake_conn_id} returned no row")
        result = {
            "conn_id": self.snowflake_conn_id,
            "database": row[0],
            "schema": row[1],
            "rows": 1,
            "status": "ok",
        }
        audit("connection_checked", context, logger=self.log, kind="snowflake", **result)
        return result


