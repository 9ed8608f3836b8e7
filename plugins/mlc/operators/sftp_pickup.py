"""Pick up complete files that someone else drops on an SFTP server (Stampli's exports).

* Only names matching the feed's patterns are looked at; a name that could leave the folder
  (slash, backslash, ``..``, leading dot, control character) is refused with an AUDIT line.
* A file is taken only when it holds still: two looks ``settle_seconds`` apart must give the same
  size and mtime, so a file still being written is left for the next run.
* Each taken file is downloaded into staging and hashed; a sha256 that the inbound ledger already
  marks ``done`` is not processed again (the copy is moved to the archive folder); one marked
  ``processing`` (a run that stopped midway) is taken again so that it finishes.
* ``file_name`` takes one named file (from the folder or, when it was already archived, from the
  archive) and ``rerun_from``/``rerun_to`` take archived files modified in that range; both
  re-process even files the ledger marks done: posting is idempotent, so nothing is posted twice.
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from mlc.formats.feed import FeedConfig
from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.operators.audit import audit
from mlc.operators.checks import is_safe_inbound_name
from mlc.operators.feeds import load_named_feed
from mlc.operators.staging import staging_dir, write_chunks
from mlc.state.ledgers import InboundLedger

CHUNK = 1 << 20


def _moment(text: Any) -> datetime | None:
    if text in (None, "", "None"):
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class SftpPickupOperator(BaseOperator):
    """Stage the complete, not yet processed files of one feed; XCom: the list of staged files.

    :param feed: feed name under include/mappings (``stampli_to_intacct/invoices_feed``), templated.
    :param sftp_conn_id: the export folder's SFTP connection (templated).
    :param file_name: take only this file (templated; from a Param).
    :param rerun_from: with ``rerun_to``: re-take archived files modified in [from, to) (templated).
    :param only_named: a file was named for some feed (templated): without ``file_name`` this feed has nothing to do.
    :param settle_seconds: seconds between the two looks; default the feed's ``stable_after_seconds``.
    """

    template_fields: Sequence[str] = ("feed", "sftp_conn_id", "file_name", "only_named", "rerun_from", "rerun_to")
    ui_color = "#e8f4e0"

    def __init__(self, *, feed: str, sftp_conn_id: str = "stampli_sftp", file_name: str | None = None,
                 only_named: str | None = None, rerun_from: str | None = None, rerun_to: str | None = None,
                 settle_seconds: float | None = None, max_files: int = 50, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feed, self.sftp_conn_id, self.file_name, self.only_named = feed, sftp_conn_id, file_name, only_named
        self.rerun_from, self.rerun_to = rerun_from, rerun_to
        self.settle_seconds, self.max_files = settle_seconds, max_files

    def execute(self, context: Context) -> list[dict[str, Any]]:
        config = load_named_feed(self.feed)
        if (self.only_named or "").strip() and not (self.file_name or "").strip():
            raise AirflowSkipException(f"{self.only_named} was asked for; it is not a {config.feed} file")
        folder, archive = remote_folder(config.remote_dir), remote_folder(config.archive_dir)
        source = f"sftp://{self.sftp_conn_id}/{config.feed}"
        settle = config.stable_after_seconds if self.settle_seconds is None else float(self.settle_seconds)
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        ledger = InboundLedger()
        staged: list[dict[str, Any]] = []
        with hook.get_managed_conn() as sftp:
            wanted = self._candidates(sftp, config, folder, archive, context)
            if not wanted:
                raise AirflowSkipException(f"no {config.feed} file in {folder}")
            if settle > 0:
                time.sleep(settle)
            second = {path: self._look(sftp, path) for path in wanted}
            for path, (first_look, forced) in wanted.items():
                name = posixpath.basename(path)
                if second[path] != first_look:
                    audit("file_not_ready", context, logger=self.log, feed=config.feed, file=name, remote_path=path,
                          reason=f"size or mtime changed within {settle:g}s: still being written")
                    continue
                item = self._stage(sftp, path, context)
                earlier = ledger.find(source, item["sha256"])
                if earlier and earlier["status"] != "processing" and not forced:
                    audit("file_skipped", context, logger=self.log, feed=config.feed, file=name, sha256=item["sha256"],
                          reason=f"already processed ({earlier['status']}) as {earlier['name']} on "
                                 f"{earlier['updated']}", earlier_run=earlier["run"])
                    if path.startswith(folder + "/") or posixpath.dirname(path) == folder:
                        moved = hook.move_aside(path, archive, item["sha256"])
                        self.log.info("Moved the copy of an already processed file to %s", moved)
                    continue
                staged.append({**item, "feed": config.feed, "source": source, "forced": forced,
                               "resumed": bool(earlier and earlier["status"] == "processing")})
                if len(staged) >= self.max_files:
                    self.log.info("Took %s files; the rest wait for the next run", len(staged))
                    break
        if not staged:
            raise AirflowSkipException(f"no new complete {config.feed} file")
        return staged

    def _candidates(self, sftp: Any, config: FeedConfig, folder: str, archive: str,
                    context: Context) -> dict[str, tuple[tuple[int, int], bool]]:
        """Remote path → (first look, forced) for every file this run may take."""
        named = (self.file_name or "").strip()
        start, end = _moment(self.rerun_from), _moment(self.rerun_to)
        if named:
            if not is_safe_inbound_name(named):
                raise ValueError(f"refusing file name {named!r}: it must name a file inside {folder}")
            for where in (folder, archive):
                path = posixpath.join(where, named)
                try:
                    return {path: (self._look(sftp, path), True)}
                except FileNotFoundError:
                    continue
            raise FileNotFoundError(f"{named} is in neither {folder} nor {archive}")
        if start or end:
            entries, forced = self._listing(sftp, archive), True
            entries = [e for e in entries if (start is None or e.st_mtime >= start.timestamp())
                       and (end is None or e.st_mtime < end.timestamp())]
            where = archive
        else:
            entries, forced, where = self._listing(sftp, folder), False, folder
        chosen = {}
        for entry in sorted(entries, key=lambda e: (e.st_mtime or 0, e.filename)):
            name = entry.filename
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in config.file_globs):
                continue
            if not is_safe_inbound_name(name):
                audit("file_refused", context, logger=self.log, feed=config.feed, file=repr(name),
                      reason="the name could leave the folder or is hidden: not taken")
                continue
            chosen[posixpath.join(where, name)] = ((entry.st_size, int(entry.st_mtime or 0)), forced)
        return chosen

    @staticmethod
    def _listing(sftp: Any, folder: str) -> list[Any]:
        try:
            return [e for e in sftp.listdir_attr(folder) if stat.S_ISREG(e.st_mode or 0)]
        except FileNotFoundError:
            return []

    @staticmethod
    def _look(sftp: Any, path: str) -> tuple[int, int]:
        attrs = sftp.stat(path)
        return attrs.st_size, int(attrs.st_mtime or 0)

    def _stage(self, sftp: Any, path: str, context: Context) -> dict[str, Any]:
        name = posixpath.basename(path)
        target = staging_dir(context) / name
        with sftp.open(path, "rb") as remote:
            remote.prefetch()
            sha256, size = write_chunks(target, iter(lambda: remote.read(CHUNK), b""))
        self.log.info("Staged %s (%s bytes, sha256 %s)", path, size, sha256)
        return {"name": name, "remote_path": path, "sha256": sha256, "bytes": size, "uri": str(target)}
