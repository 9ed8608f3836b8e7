"""How far each source has been delivered (watermarks), and which version of which record reached which
destination (the per-record ledger): what makes missed runs caught up and overlapping runs send nothing twice.

* A **watermark** is kept per scope (DAG, export, connection): every record the source changed before it has
  reached its destination. A run reads from the mark (minus an overlap) to the end of its interval, so the
  days a paused DAG or a failed night missed are read by the next run. The mark moves only forward, and only
  once the delivery or load the extract fed has succeeded (and nothing of it was left pending).
* The **record ledger** remembers, per destination, the key of each record sent and a digest of what the
  partner saw. The same version is never sent again, whatever windows overlap; a changed version is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from mlc.state.schema import RECORDS_SENT, WATERMARKS, ensure_tables

CHUNK = 500


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def watermark_scope(dag_id: str, export: str, conn_id: str) -> str:
    return f"{dag_id}|{export}|{conn_id}"


class Watermarks:
    """The high-water mark of each scope."""

    def __init__(self, url: str | None = None) -> None:
        self.engine = ensure_tables(url)

    def get(self, scope: str) -> datetime | None:
        with self.engine.connect() as conn:
            mark = conn.execute(sa.select(WATERMARKS.c.mark).where(WATERMARKS.c.scope == scope)).scalar()
        return _moment(mark) if mark else None

    def advance(self, scope: str, until: datetime, run: str) -> datetime:
        """Move the mark to ``until`` unless it is already further; the mark it has now."""
        until = until if until.tzinfo else until.replace(tzinfo=timezone.utc)
        with self.engine.begin() as conn:
            current = conn.execute(sa.select(WATERMARKS.c.mark).where(WATERMARKS.c.scope == scope)
                                   .with_for_update()).scalar()
            if current is not None and _moment(current) >= until:
                return _moment(current)
            values = {"mark": until.astimezone(timezone.utc).isoformat(), "updated": _now(), "run": run}
            if current is None:
                try:
                    with conn.begin_nested():
                        conn.execute(WATERMARKS.insert().values(scope=scope, **values))
                    return until
                except sa.exc.IntegrityError:
                    pass  # another worker set it meanwhile: compare again under the lock
            conn.execute(WATERMARKS.update().where(WATERMARKS.c.scope == scope,
                                                   WATERMARKS.c.mark < values["mark"]).values(**values))
        return self.get(scope) or until


class SentRecords:
    """The per-record ledger of one destination."""

    def __init__(self, destination: str, url: str | None = None) -> None:
        self.destination = destination
        self.engine = ensure_tables(url)

    def versions(self, keys: Iterable[str]) -> dict[str, set[str]]:
        """The digests already sent for each of ``keys`` (in chunks, so any number of keys)."""
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(keys)), CHUNK):
                rows = conn.execute(sa.select(RECORDS_SENT.c.record_key, RECORDS_SENT.c.digest).where(
                    RECORDS_SENT.c.destination == self.destination, RECORDS_SENT.c.record_key.in_(chunk)))
                for key, digest in rows:
                    found.setdefault(key, set()).add(digest)
        return found

    def record(self, sent: Iterable[tuple[str, str]], file: str, run: str) -> int:
        """Remember that these (key, digest) reached the destination in ``file``; how many were new."""
        added = 0
        now = _now()
        with self.engine.begin() as conn:
            for chunk in _chunks(list(sent), CHUNK):
                known = {(k, d) for k, d in conn.execute(sa.select(RECORDS_SENT.c.record_key, RECORDS_SENT.c.digest)
                         .where(RECORDS_SENT.c.destination == self.destination,
                                RECORDS_SENT.c.record_key.in_({k for k, _ in chunk})))}
                new = [{"destination": self.destination, "record_key": k, "digest": d, "file": file, "run": run,
                        "sent_at": now} for k, d in dict.fromkeys(chunk) if (k, d) not in known]
                if new:
                    conn.execute(RECORDS_SENT.insert(), new)
                    added += len(new)
        return added


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
