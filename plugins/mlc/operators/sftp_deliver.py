"""Deliver a staged file to a partner's SFTP folder: once, whole, and verified.

* The file is written by :meth:`mlc.hooks.sftp.MlcSFTPHook.put_atomic`: uploaded under a temporary
  name (``.name.part``), its size checked, renamed when complete, so a partner's pick-up job never
  sees half a file; a dropped link is retried by the hook on a fresh connection.
* The host key is verified (:class:`mlc.hooks.sftp.MlcSFTPHook`); a mismatch fails at once.
* The ledger (:class:`mlc.state.ledgers.DeliveryLedger`) remembers each sha256 delivered to each
  destination (connection + folder): the same bytes are not sent twice unless ``force``, and a
  file whose final name already holds the same bytes (an earlier attempt that died after the
  rename; compared by sha256) is recorded, not re-sent.
* ``dry_run`` stops before connecting: the file stays staged and the AUDIT line says so.
* Once the file is there (or had nothing to carry), its records go into the per-record ledger and the
  extract's watermark moves (:func:`mlc.operators.progress.finish_delivery`). When the render left
  records behind, the task fails after the delivery, naming them: the run is red, the alert says what
  is pending, and the watermark stays, so the next run retries them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from mlc.hooks.sftp import MlcSFTPHook, SftpUnreachable, is_retryable_transfer_error, remote_folder
from mlc.operators.assets import announce, declare
from mlc.operators.audit import audit
from mlc.operators.checks import is_plain_file_name, truthy
from mlc.operators.lineage import ReportsLineage, dataset, file_dataset
from mlc.operators.progress import finish_delivery
from mlc.state.ledgers import DeliveryLedger, sftp_destination


def delivery_failure(exc: BaseException, name: str, destination: str) -> AirflowException:
    """The task's last log line: what failed, where, and whether Airflow will try again.

    A wrong host key, a refused login or a file in the way will not fix themselves, so the task
    fails without Airflow's retries (``AirflowFailException``); network trouble is left to them.
    """
    what = f"delivery of {name} to {destination} failed: {type(exc).__name__}: {str(exc) or 'connection lost'}"
    if is_retryable_transfer_error(exc) or isinstance(exc, SftpUnreachable):
        return AirflowException(f"{what}. Nothing was written under the final name; the task is retried, and "
                                "clearing it later is safe.")
    return AirflowFailException(f"{what}. Not retried: fix the cause (connection, host key, folder), then clear "
                                "the task.")


class SftpDeliverOperator(ReportsLineage, BaseOperator):
    """Upload the file rendered by ``source_task_id`` into ``remote_dir``.

    :param source_task_id: the render task whose XCom names the staged file.
    :param remote_dir: folder on the server, relative to the login folder (templated).
    :param sftp_conn_id: SFTP connection (templated).
    :param force: send even when this sha256 already reached this destination (templated).
    :param dry_run: stage only, deliver nothing (templated).
    :param hook_kwargs: passed to :class:`~mlc.hooks.sftp.MlcSFTPHook` (its retry policy).
    """

    template_fields: Sequence[str] = ("remote_dir", "sftp_conn_id", "force", "dry_run")
    ui_color = "#d7ecff"

    def __init__(self, *, source_task_id: str, remote_dir: str = "outbound", sftp_conn_id: str = "sftp_default",
                 force: Any = False, dry_run: Any = False, hook_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        declare(self)  # the asset alias its deliveries update
        self.source_task_id, self.remote_dir, self.sftp_conn_id = source_task_id, remote_dir, sftp_conn_id
        self.force, self.dry_run, self.hook_kwargs = force, dry_run, dict(hook_kwargs or {})

    def staged_file(self, context: Context) -> dict[str, Any]:
        """What the render task staged (its XCom): the file to deliver."""
        staged = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not staged:
            raise AirflowSkipException(f"{self.source_task_id} rendered nothing")
        return staged

    def execute(self, context: Context) -> dict[str, Any]:
        staged = self.staged_file(context)
        name, sha256, size = staged["file"], staged["sha256"], int(staged["bytes"])
        if not is_plain_file_name(name):
            raise ValueError(f"refusing to deliver {name!r}: not a plain file name")
        remote_dir = remote_folder(self.remote_dir)
        destination = sftp_destination(self.sftp_conn_id, remote_dir)
        final = posixpath.join(remote_dir, name)
        fields = {"file": name, "sha256": sha256, "bytes": size, "destination": destination, "remote_path": final,
                  "records": staged.get("records"), "control": staged.get("control")}
        if int(staged.get("records") or 0) == 0:
            audit("delivery_skipped", context, logger=self.log, reason="no records in the window" if not
                  staged.get("already_sent") else "every record already reached this destination", **fields)
            finish_delivery(context, staged, destination, final, logger=self.log)
            self._fail_on_pending(staged)
            return {**fields, "status": "empty"}
        if truthy(self.dry_run):
            audit("delivery_skipped", context, logger=self.log, reason="dry_run", staged=staged["uri"], **fields)
            return {**fields, "status": "dry_run"}
        ledger = DeliveryLedger()
        earlier = ledger.find(destination, sha256)
        if earlier and not truthy(self.force):
            audit("delivery_skipped", context, logger=self.log, reason="already delivered", delivered_at=earlier["delivered_at"],
                  earlier_run=earlier["run"], **fields)
            finish_delivery(context, staged, destination, final, logger=self.log)
            self._fail_on_pending(staged)
            return {**fields, "status": "already_delivered"}
        from airflow.sdk import ObjectStoragePath

        source = ObjectStoragePath(staged["uri"])
        try:
            hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id, **self.hook_kwargs)
            put = hook.put_atomic(lambda: source.open("rb"), remote_dir, name, sha256=sha256, size=size)
        except Exception as exc:
            audit("delivery_failed", context, logger=self.log, cause=f"{type(exc).__name__}: {exc}", **fields)
            raise delivery_failure(exc, name, destination) from exc
        status = put.status
        kept = {**(staged.get("control") or {}), "records": staged.get("records")}  # what the deliveries page shows
        ledger.record(destination, sha256, final, size, context["ti"].run_id, kept)
        if staged.get("content_key"):
            ledger.record(destination, staged["content_key"], final, size, context["ti"].run_id, kept)
        audit("file_delivered", context, logger=self.log, status=status, **fields)
        self.lineage = ([file_dataset(staged["uri"])], [dataset(f"sftp://{self.sftp_conn_id}", final)])
        announce(self, context, destination, {"file": name, "remote_path": final, "sha256": sha256, "bytes": size,
                                              "records": staged.get("records"), "control": staged.get("control"),
                                              "run_id": context["ti"].run_id})
        finish_delivery(context, staged, destination, final, logger=self.log)
        self._fail_on_pending(staged)
        return {**fields, "status": status}

    @staticmethod
    def _fail_on_pending(staged: dict[str, Any]) -> None:
        """The file went; records the render could not write did not: the run must not look complete."""
        if not staged.get("rejected"):
            return
        pending = staged.get("pending") or []
        raise AirflowException(
            f"{staged['rejected']} record(s) could not be rendered and were not delivered: {'; '.join(pending[:20])}"
            f"{' ...' if int(staged['rejected']) > 20 else ''}. The others were delivered. They stay pending: the next "
            "run reads them again (the watermark did not move). Fix them at the source, or trigger with `waive` "
            "listing their keys to skip them on purpose.")
