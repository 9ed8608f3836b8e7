"""Deliver a staged file to a partner's SFTP folder: once, whole, and verified.

* The file is uploaded under a temporary name (``.name.part``) and renamed when complete, so a
  partner's pick-up job never sees half a file; the size on the server is checked before the
  rename. A failed attempt removes its temporary file.
* The host key is verified (:class:`hooks.sftp.MlcSFTPHook`); a mismatch fails at once.
* The ledger (:class:`operators.state.DeliveryLedger`) remembers each sha256 delivered to each
  destination (connection + folder): the same bytes are not sent twice unless ``force``, and a
  file whose final name already holds the same size (an earlier attempt that died after the
  rename) is recorded, not re-sent.
* ``dry_run`` stops before connecting: the file stays staged and the AUDIT line says so.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

import tenacity
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.sdk import BaseOperator, Context

from hooks.sftp import HostKeyMismatchError, HostKeyUnknownError, MlcSFTPHook, ensure_remote_dir
from operators.audit import audit
from operators.checks import is_plain_file_name, truthy
from operators.state import DeliveryLedger, remote_folder, sftp_destination

def is_retryable_delivery_error(exc: BaseException) -> bool:
    """Network trouble and a dropped session are worth another try; a wrong host key or login is not."""
    if isinstance(exc, (HostKeyMismatchError, HostKeyUnknownError, PermissionError, FileNotFoundError, FileExistsError,
                        ValueError)):
        return False
    import paramiko

    if isinstance(exc, paramiko.AuthenticationException):
        return False
    return isinstance(exc, (OSError, EOFError, paramiko.SSHException))


def delivery_failure(exc: BaseException, name: str, destination: str) -> AirflowException:
    """The task's last log line: what failed, where, and whether Airflow will try again.

    A wrong host key, a refused login or a file in the way will not fix themselves, so the task
    fails without Airflow's retries (``AirflowFailException``); network trouble is left to them.
    """
    what = f"delivery of {name} to {destination} failed: {type(exc).__name__}: {str(exc) or 'connection lost'}"
    if is_retryable_delivery_error(exc):
        return AirflowException(f"{what}. Nothing was written under the final name; the task is retried, and "
                                "clearing it later is safe.")
    return AirflowFailException(f"{what}. Not retried: fix the cause (connection, host key, folder), then clear "
                                "the task.")


class SftpDeliverOperator(BaseOperator):
    """Upload the file rendered by ``source_task_id`` into ``remote_dir``.

    :param source_task_id: the render task whose XCom names the staged file.
    :param remote_dir: folder on the server, relative to the login folder (templated).
    :param sftp_conn_id: SFTP connection (templated).
    :param force: send even when this sha256 already reached this destination (templated).
    :param dry_run: stage only, deliver nothing (templated).
    """

    template_fields: Sequence[str] = ("remote_dir", "sftp_conn_id", "force", "dry_run")
    ui_color = "#d7ecff"

    def __init__(self, *, source_task_id: str, remote_dir: str = "outbound", sftp_conn_id: str = "sftp_default",
                 force: Any = False, dry_run: Any = False, attempts: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_task_id, self.remote_dir, self.sftp_conn_id = source_task_id, remote_dir, sftp_conn_id
        self.force, self.dry_run, self.attempts = force, dry_run, attempts

    def execute(self, context: Context) -> dict[str, Any]:
        staged = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not staged:
            raise AirflowSkipException(f"{self.source_task_id} rendered nothing")
        name, sha256, size = staged["file"], staged["sha256"], int(staged["bytes"])
        if not is_plain_file_name(name):
            raise ValueError(f"refusing to deliver {name!r}: not a plain file name")
        remote_dir = remote_folder(self.remote_dir)
        destination = sftp_destination(self.sftp_conn_id, remote_dir)
        final = posixpath.join(remote_dir, name)
        fields = {"file": name, "sha256": sha256, "bytes": size, "destination": destination, "remote_path": final,
                  "control": staged.get("control")}
        if int(staged.get("records") or 0) == 0:
            audit("delivery_skipped", context, logger=self.log, reason="no records in the window", **fields)
            return {**fields, "status": "empty"}
        if truthy(self.dry_run):
            audit("delivery_skipped", context, logger=self.log, reason="dry_run", staged=staged["uri"], **fields)
            return {**fields, "status": "dry_run"}
        ledger = DeliveryLedger()
        earlier = ledger.find(destination, sha256)
        if earlier and not truthy(self.force):
            audit("delivery_skipped", context, logger=self.log, reason="already delivered", delivered_at=earlier["delivered_at"],
                  earlier_run=earlier["run"], **fields)
            return {**fields, "status": "already_delivered"}
        source = staged["uri"]
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts), reraise=True,
            wait=tenacity.wait_random_exponential(multiplier=1, max=30),
            retry=tenacity.retry_if_exception(is_retryable_delivery_error),
            before_sleep=lambda s: self.log.warning("Delivery of %s failed (attempt %s): %s; retrying", name,
                                                    s.attempt_number, s.outcome.exception() if s.outcome else None))
        try:
            status = retrying(self._upload, source, remote_dir, name, size)
        except Exception as exc:
            raise delivery_failure(exc, name, destination) from exc
        ledger.record(destination, sha256, final, size, context["ti"].run_id, staged.get("control"))
        if staged.get("content_key"):
            ledger.record(destination, staged["content_key"], final, size, context["ti"].run_id, staged.get("control"))
        audit("file_delivered", context, logger=self.log, status=status, **fields)
        return {**fields, "status": status}

    def _upload(self, source: str, remote_dir: str, name: str, size: int) -> str:
        from airflow.sdk import ObjectStoragePath

        final = posixpath.join(remote_dir, name)
        temp = posixpath.join(remote_dir, f".{name}.part")
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn() as sftp:
            ensure_remote_dir(sftp, remote_dir)
            try:
                existing = sftp.stat(final)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                if existing.st_size == size:
                    self.log.info("%s is already on the server with the same size: recording it as delivered", final)
                    return "found_complete"
                raise FileExistsError(f"{final} already exists on the server with {existing.st_size} bytes, not "
                                      f"{size}: not overwriting a partner's file; remove it or rename the mapping's "
                                      "file name")
            try:
                with ObjectStoragePath(source).open("rb") as src:
                    sftp.putfo(src, temp, file_size=size, confirm=True)
                uploaded = sftp.stat(temp).st_size
                if uploaded != size:
                    raise OSError(f"uploaded {uploaded} bytes of {size} for {name}")
                sftp.posix_rename(temp, final)
            except BaseException:
                try:
                    sftp.remove(temp)
                except Exception:  # noqa: BLE001 - the link may be gone; the next attempt overwrites it
                    pass
                raise
        return "delivered"
