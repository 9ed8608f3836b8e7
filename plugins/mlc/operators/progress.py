"""What the operators do with the watermarks and the per-record ledger (:mod:`mlc.state.progress`).

* The extract reads from the watermark of its scope (DAG, export, connection) to the end of its run's
  interval, and passes on ``watermark = {"scope", "until"}``; a window given through Params does neither
  (it re-sends a period on purpose and must not move the mark).
* The render lets records pass by through :class:`LedgerGate`: a record whose very version already
  reached the destination, or one a person waived; it lists what it wrote in a sidecar file.
* The step that finishes the delivery (deliver, load, upload) records the sidecar in the ledger and, when
  nothing was left pending, moves the mark: :func:`finish_delivery`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

from airflow.sdk import Context

from mlc.formats.mapping import get_path
from mlc.formats.render import record_key
from mlc.operators.audit import audit
from mlc.operators.staging import staged_records
from mlc.state.progress import SentRecords, Watermarks


def waived_keys(value: Any) -> set[str]:
    """The ``waive`` Param (a list, or a comma-separated text) as a set of record keys."""
    if not value:
        return set()
    items = value if isinstance(value, (list, tuple, set)) else str(value).strip("[]").replace("'", "").split(",")
    return {str(item).strip() for item in items if str(item).strip()}


class LedgerGate:
    """A :class:`mlc.formats.render.RecordGate` over one destination's ledger and the run's waivers.

    It knows the ledger's versions of the records in hand only: :meth:`records` asks the ledger about each chunk
    of staged records as it reads them, so the staged file is read once and memory stays flat in its size.
    """

    def __init__(self, mapping: Mapping[str, Any], ledger: SentRecords, waived: set[str], force: bool,
                 sidecar: IO[str]) -> None:
        self.mapping, self.ledger, self.waived, self.force, self.sidecar = mapping, ledger, waived, force, sidecar
        self.known: dict[str, set[str]] = {}
        self.written_count = 0

    def records(self, uri: str) -> Iterator[dict[str, Any]]:
        """The records staged at ``uri``, each chunk's versions in the ledger looked up before it is handed on."""
        staged = staged_records(uri)
        while chunk := list(itertools.islice(staged, LOOKUP_CHUNK)):
            self.known = {} if self.force else self.ledger.versions(
                key for key in (record_key(self.mapping, record) for record in chunk) if key)
            yield from chunk

    def admit(self, record: Mapping[str, Any], key: str, digest: str) -> str | None:
        shown = get_path(record, self.mapping["record_key"]) if self.mapping.get("record_key") else None
        if self.waived and (key in self.waived or str(shown) in self.waived):
            return "waived"
        if not self.force and digest in self.known.get(key, ()):
            return "already sent"
        return None

    def written(self, key: str, digest: str) -> None:
        if key:
            self.sidecar.write(json.dumps([key, digest]) + "\n")
            self.written_count += 1


#: staged records read (and looked up in the ledger) at a time
LOOKUP_CHUNK = 2000


def _sent(uri: str | None) -> Iterable[tuple[str, str]]:
    if not uri:
        return []
    return ((key, digest) for key, digest in (json.loads(line) for line in _lines(uri)))


def _lines(uri: str) -> Iterable[str]:
    from airflow.sdk import ObjectStoragePath

    with ObjectStoragePath(uri).open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line


def finish_delivery(context: Context, staged: Mapping[str, Any], destination: str, file: str, *,
                    logger: Any) -> None:
    """After the file reached ``destination`` (or was found there): record its records in the ledger, and move
    the watermark when the render left nothing pending."""
    if staged.get("sent_uri"):
        added = SentRecords(destination).record(_sent(staged["sent_uri"]), file, context["ti"].run_id)
        logger.info("Record ledger of %s: %s record version(s) added", destination, added)
    commit_watermark(context, staged.get("watermark"), logger=logger)


def commit_watermark(context: Context, watermark: Mapping[str, Any] | None, *, logger: Any) -> None:
    """Move the mark of ``watermark["scope"]`` to ``watermark["until"]`` (never backwards); AUDIT it."""
    if not watermark:
        return
    until = datetime.fromisoformat(watermark["until"])
    mark = Watermarks().advance(watermark["scope"], until, context["ti"].run_id)
    audit("watermark_moved", context, logger=logger, scope=watermark["scope"], until=watermark["until"],
          mark=mark.isoformat())
