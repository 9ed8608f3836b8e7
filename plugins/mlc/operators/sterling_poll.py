"""Take new inbound messages out of Sterling B2Bi mailboxes and hand them on, each exactly once.

Sterling's REST APIs document no extract/commit, so exactly-once is ours: a ledger of processed
message ids (``mlc_inbound_file``, one row per mailbox + message id). A message is listed through
``mailboxcontents``, its content read, staged, handed on (to an SFTP folder through a temporary name,
or to a local folder by an atomic rename) and only then marked done. A crash between the hand-on
and the mark hands the same bytes on again under the same name: the receiver sees one file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.hooks.sterling import SterlingHook
from mlc.operators.audit import audit
from mlc.operators.checks import is_safe_inbound_name
from mlc.operators.staging import staging_dir, write_chunks
from mlc.state.ledgers import InboundLedger


class SterlingPollOperator(BaseOperator):
    """Hand on every message of ``mailboxes`` not handed on before.

    :param mailboxes: mailbox paths to poll (templated; a list or comma-separated).
    :param handoff: ``sftp`` (``sftp_conn_id`` + ``handoff_dir``) or ``local`` (``handoff_dir`` is a path).
    """

    template_fields: Sequence[str] = ("mailboxes", "handoff", "handoff_dir", "sftp_conn_id", "sterling_conn_id")
    ui_color = "#fff2cc"

    def __init__(self, *, mailboxes: Any = ("/MLC/Inbound",), handoff: str = "sftp",
                 handoff_dir: str = "from_sterling", sftp_conn_id: str = "sftp_default",
                 sterling_conn_id: str = SterlingHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mailboxes, self.handoff, self.handoff_dir = mailboxes, handoff, handoff_dir
        self.sftp_conn_id, self.sterling_conn_id = sftp_conn_id, sterling_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        paths = self.mailboxes if isinstance(self.mailboxes, (list, tuple)) else \
            [p.strip() for p in str(self.mailboxes).strip("[]").replace("'", "").split(",") if p.strip()]
        if self.handoff not in ("sftp", "local"):
            raise ValueError(f"handoff must be 'sftp' or 'local', not {self.handoff!r}")
        hook, ledger = SterlingHook(self.sterling_conn_id), InboundLedger()
        hook.warn_if_admin()
        handed: list[dict[str, Any]] = []
        for path in paths:
            source = f"sterling://{self.sterling_conn_id}{path}"
            for message in hook.list_messages(path):
                key = f"message:{message['id']}"
                if ledger.find(source, key):
                    continue
                name = str(message.get("name") or message["id"])
                safe = name if is_safe_inbound_name(name) else f"message_{message['id']}"
                out_name = f"{message['id']}_{safe}"  # the id keeps two messages of one name apart
                data = hook.message_content(message)
                sha256, size = write_chunks(staging_dir(context) / out_name, [data])
                where = self._hand_on(out_name, data)
                ledger.mark(source, key, name, "done", context["ti"].run_id, rows=1)
                audit("message_extracted", context, logger=self.log, mailbox=path, message_id=message["id"],
                      message_name=name, sha256=sha256, bytes=size, handed_to=where,
                      created=message.get("creationDate"))
                handed.append({"message_id": message["id"], "file": out_name, "sha256": sha256})
        self.log.info("Sterling polling: %s new message(s) handed on (Sterling calls: %s)", len(handed), hook.calls)
        if not handed:
            raise AirflowSkipException(f"no new message in {', '.join(paths)}")
        return {"files": [h["file"] for h in handed], "messages": len(handed)}

    def _hand_on(self, name: str, data: bytes) -> str:
        if self.handoff == "local":
            folder = Path(self.handoff_dir)
            folder.mkdir(parents=True, exist_ok=True)
            temp = folder / f".{name}.{hashlib.sha256(data).hexdigest()[:8]}.part"
            temp.write_bytes(data)
            os.replace(temp, folder / name)
            return str(folder / name)
        return MlcSFTPHook(ssh_conn_id=self.sftp_conn_id).put_atomic(data, remote_folder(self.handoff_dir), name,
                                                                      replace=True).path
