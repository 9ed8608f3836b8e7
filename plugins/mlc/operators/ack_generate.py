"""Acknowledge the EDI files a downstream system has taken: when it moves a file we delivered into
its processed folder, write the 997 (X12) or CONTRL (EDIFACT) for it into ``acks/``.

Only files this destination received from us (by the delivery ledger) are acknowledged, each once
(the ledger remembers the acknowledgment too); the control numbers are derived from the file, so a
replay writes the same bytes. CSV and fixed-width files have no acknowledgment and are passed over.
"""

from __future__ import annotations

import io
import posixpath
import tempfile
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from mlc.formats.acknowledge import acknowledge_into
from mlc.formats.errors import FormatError
from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.operators.audit import audit
from mlc.operators.checks import truthy
from mlc.operators.render_file import run_timestamp
from mlc.state.control_numbers import control_number_store
from mlc.state.ledgers import DeliveryLedger, sftp_destination


class AckGenerateOperator(BaseOperator):
    """Write acknowledgments for delivered EDI files found in ``processed_dir``.

    :param remote_dir: the folder files were delivered to (templated).
    :param processed_dir: where the downstream system moves a file it has processed (templated).
    :param acks_dir: where the acknowledgments go (templated).
    :param enabled: a Param's value; off → the task is skipped (templated).
    """

    template_fields: Sequence[str] = ("remote_dir", "processed_dir", "acks_dir", "sftp_conn_id", "enabled")
    ui_color = "#f3e8fd"

    def __init__(self, *, remote_dir: str = "inbound", processed_dir: str = "inbound/processed", acks_dir: str = "acks",
                 sftp_conn_id: str = "sftp_default", enabled: Any = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.remote_dir, self.processed_dir, self.acks_dir = remote_dir, processed_dir, acks_dir
        self.sftp_conn_id, self.enabled = sftp_conn_id, enabled

    def execute(self, context: Context) -> dict[str, Any]:
        if not truthy(self.enabled):
            raise AirflowSkipException("acknowledgments are switched off for this run")
        destination = sftp_destination(self.sftp_conn_id, self.remote_dir)
        ledger = DeliveryLedger()
        delivered = {posixpath.basename(d["remote_path"]): d for d in ledger.at(destination)}
        processed, acks = remote_folder(self.processed_dir), remote_folder(self.acks_dir)
        written: list[str] = []
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn() as sftp:
            try:
                names = sorted(sftp.listdir(processed))
            except FileNotFoundError:
                names = []
            for name in names:
                entry = delivered.get(name)
                if entry is None or ledger.find(f"ack:{destination}", entry["sha256"]):
                    continue
                # The file is read a chunk at a time from a local copy (in memory up to 1 MiB, on disk beyond).
                with tempfile.SpooledTemporaryFile(max_size=1 << 20) as copy:
                    sftp.getfo(posixpath.join(processed, name), copy)
                    copy.seek(0)
                    out = io.BytesIO()
                    try:
                        standard, written_ack = acknowledge_into(copy, out, control_number_store(),
                                                                 f"ack|{entry['sha256']}", run_timestamp(context))
                    except FormatError:
                        self.log.info("%s is not X12 or EDIFACT: no acknowledgment exists for it", name)
                        continue
                if not written_ack:
                    continue
                ack = out.getvalue()
                kind = "997" if standard == "x12" else "CONTRL"
                ack_name = f"{kind}_{name.rsplit('.', 1)[0]}.{'x12' if standard == 'x12' else 'edi'}"
                path = hook.put_atomic(ack, acks, ack_name, replace=True).path
                ledger.record(f"ack:{destination}", entry["sha256"], path, len(ack), context["ti"].run_id,
                              {"for": name})
                audit("ack_generated", context, logger=self.log, file=name, ack=ack_name, remote_path=path, kind=kind,
                      delivered_sha256=entry["sha256"], control=entry.get("control"))
                written.append(path)
        if not written:
            raise AirflowSkipException(f"no newly processed EDI file in {processed}")
        return {"files": written}
