"""Send a partner again a file an earlier run rendered and delivered (the partner lost it, or asks for it again):
the very bytes that run staged, with the same control numbers, to the folder it went to; nothing is extracted or
rendered again. ``mlc_resend`` wires it; the README's "Replay" section says when to use it rather than a clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from mlc.operators.audit import audit
from mlc.operators.sftp_deliver import SftpDeliverOperator


class ResendFileOperator(SftpDeliverOperator):
    """Deliver again the file ``render_<export>`` staged in run ``source_run_id`` of ``source_dag_id``.

    :param source_dag_id: the partner DAG whose run sent the file (templated).
    :param source_run_id: that run's id, as the deliveries page or the run's page shows it (templated).
    :param export: the document (``bills``, ``vendors``...): its render task staged the file (templated).
    :param reason: why it goes again, kept in the AUDIT line (templated).
    :param remote_dir: where to; empty: the folder the run delivered it to (templated).
    :param sftp_conn_id: through which connection; empty: the run's (templated).
    """

    template_fields: Sequence[str] = (*SftpDeliverOperator.template_fields, "source_dag_id", "source_run_id",
                                      "export", "reason")

    def __init__(self, *, source_dag_id: str, source_run_id: str, export: str, reason: str,
                 remote_dir: str = "", sftp_conn_id: str = "", **kwargs: Any) -> None:
        super().__init__(source_task_id="", remote_dir=remote_dir, sftp_conn_id=sftp_conn_id, force=True, **kwargs)
        self.source_dag_id, self.source_run_id, self.export, self.reason = source_dag_id, source_run_id, export, reason

    def staged_file(self, context: Context) -> dict[str, Any]:
        where = f"run {self.source_run_id!r} of {self.source_dag_id!r}"
        if not str(self.reason).strip():
            raise AirflowFailException("Say why the file goes again (the reason Param): it is kept in the audit trail.")
        ti = context["ti"]
        staged = ti.xcom_pull(task_ids=f"render_{self.export}", dag_id=self.source_dag_id, run_id=self.source_run_id)
        if not staged:
            raise AirflowFailException(f"{where} staged no {self.export} file (render_{self.export} has no result): "
                                       "check the DAG, run and export names on the run's page.")
        if not ObjectStoragePath(staged["uri"]).exists():
            raise AirflowFailException(f"the file {staged['file']} that {where} staged is no longer in staging: "
                                       f"clear extract_{self.export} with downstream in that run to render it again")
        delivered = ti.xcom_pull(task_ids=f"deliver_{self.export}", dag_id=self.source_dag_id,
                                 run_id=self.source_run_id) or {}
        if not (self.remote_dir and self.sftp_conn_id):
            if not delivered.get("destination"):
                raise AirflowFailException(f"{where} never delivered {staged['file']}: name remote_dir and "
                                           f"sftp_conn_id, or clear deliver_{self.export} in that run")
            target = urlsplit(delivered["destination"])
            self.sftp_conn_id = self.sftp_conn_id or target.netloc
            self.remote_dir = self.remote_dir or target.path.lstrip("/") or "."
        audit("file_resent", context, logger=self.log, file=staged["file"], sha256=staged["sha256"],
              source_dag_id=self.source_dag_id, source_run_id=self.source_run_id, export=self.export,
              reason=self.reason, remote_dir=self.remote_dir)
        # The file goes as it was; what it carried is already in the ledgers, and the run's watermark is its own.
        return {**staged, "rejected": 0, "pending": [], "sent_uri": None, "watermark": None}
