"""The ledgers that make delivery and pick-up idempotent: what reached which destination, and which
inbound file was processed and how it ended."""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from mlc.state.schema import DELIVERIES, INBOUND, ensure_tables


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sftp_destination(conn_id: str, remote_dir: str) -> str:
    """The ledger's name for an SFTP folder (``sftp://<conn>/<folder>``, the folder normalised)."""
    return f"sftp://{conn_id}/{posixpath.normpath(remote_dir or '.')}"


def normalize_destination(destination: str) -> str:
    """``destination`` as the ledger keys it: an ``sftp://`` folder normalised like :func:`sftp_destination`."""
    scheme, sep, rest = destination.partition("://")
    if scheme != "sftp" or not sep:
        return destination
    conn_id, _, folder = rest.partition("/")
    return sftp_destination(conn_id, folder)


def content_key(mapping: str, records_sha256: str) -> str:
    """Names what a file says (these records through this mapping), whatever its envelope numbers."""
    return "content:" + hashlib.sha256(f"{mapping}\n{records_sha256}".encode()).hexdigest()


def _upsert(conn: sa.Connection, table: sa.Table, where: tuple[Any, ...], key: dict[str, Any],
            values: dict[str, Any], on_insert: dict[str, Any] | None = None) -> None:
    if conn.execute(sa.select(*table.primary_key.columns).where(*where)).first():
        conn.execute(table.update().where(*where).values(**values))
    else:
        conn.execute(table.insert().values(**key, **values, **(on_insert or {})))


class DeliveryLedger:
    """Which file (by sha256) reached which destination (connection + folder), and when."""

    def __init__(self, url: str | None = None) -> None:
        self.engine = ensure_tables(url)

    def find(self, destination: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(DELIVERIES).where(DELIVERIES.c.destination == destination,
                                                           DELIVERIES.c.sha256 == sha256)).mappings().first()
        return dict(row) if row else None

    def record(self, destination: str, sha256: str, remote_path: str, size: int, run: str,
               control: dict[str, Any] | None = None) -> None:
        values = {"remote_path": remote_path, "size": size, "run": run, "delivered_at": _now(),
                  "control": json.dumps(control or {}, sort_keys=True)}
        where = (DELIVERIES.c.destination == destination, DELIVERIES.c.sha256 == sha256)
        with self.engine.begin() as conn:
            _upsert(conn, DELIVERIES, where, {"destination": destination, "sha256": sha256}, values)

    def by_control(self, destination_prefix: str) -> list[dict[str, Any]]:
        """Every delivery to destinations starting with ``destination_prefix``, control numbers decoded."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(DELIVERIES).where(DELIVERIES.c.destination.startswith(destination_prefix)))
            return [dict(row, control=json.loads(row["control"] or "{}")) for row in rows.mappings()]


class InboundLedger:
    """Which inbound file (by sha256) from which feed was processed, and how it ended.

    ``processing`` means posting began and did not finish (a crash, a lost session): the next run
    takes the file again and finishes it; the writes themselves are idempotent by business key.
    """

    def __init__(self, url: str | None = None) -> None:
        self.engine = ensure_tables(url)

    def find(self, source: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(INBOUND).where(INBOUND.c.source == source, INBOUND.c.sha256 == sha256)
                               ).mappings().first()
        return dict(row) if row else None

    def mark(self, source: str, sha256: str, name: str, status: str, run: str, **counts: int) -> None:
        now = _now()
        where = (INBOUND.c.source == source, INBOUND.c.sha256 == sha256)
        with self.engine.begin() as conn:
            _upsert(conn, INBOUND, where, {"source": source, "sha256": sha256},
                    {"name": name, "status": status, "run": run, "updated": now, **counts}, {"first_seen": now})
