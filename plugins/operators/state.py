"""State that outlives a task and must be shared by every worker: EDI control numbers and the
ledger of delivered files.

Kept in the database named by ``MLC_STATE_URL`` (any SQLAlchemy URL; the Celery deployment points
it at its PostgreSQL). The default, a SQLite file beside ``AIRFLOW_HOME``, suits one machine
(``airflow standalone``, the demo, the tests). Tasks never touch Airflow's metadata database for
this: Airflow 3 keeps tasks out of it, and this state belongs to ml-connector.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from formats.control_numbers import SqlControlNumberStore
from hooks.state_db import engine as _engine
from hooks.state_db import state_url


def control_number_store() -> SqlControlNumberStore:
    """Control numbers per sender/receiver pair, rising across runs, the same for a replayed run."""
    return SqlControlNumberStore(state_url())


_META = sa.MetaData()
DELIVERIES = sa.Table(
    "mlc_delivery", _META,
    sa.Column("destination", sa.String(500), primary_key=True),
    sa.Column("sha256", sa.String(80), primary_key=True),  # a file's sha256, or "content:" + the records' key
    sa.Column("remote_path", sa.String(1000), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.String(40), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
    sa.Column("control", sa.Text, nullable=True),
)


def remote_folder(remote_dir: str) -> str:
    """A folder relative to the SFTP login folder, normalised; refuses one that leaves it."""
    folder = posixpath.normpath(remote_dir or ".")
    if folder.startswith(("/", "..")):
        raise ValueError(f"remote folder {remote_dir!r} must stay inside the login folder")
    return folder


def sftp_destination(conn_id: str, remote_dir: str) -> str:
    """The ledger's name for an SFTP folder."""
    return f"sftp://{conn_id}/{remote_folder(remote_dir)}"


def content_key(mapping: str, records_sha256: str) -> str:
    """Names what a file says (these records through this mapping), whatever its envelope numbers."""
    return "content:" + hashlib.sha256(f"{mapping}\n{records_sha256}".encode()).hexdigest()


class DeliveryLedger:
    """Which file (by sha256) reached which destination (connection + folder), and when."""

    def __init__(self, url: str | None = None) -> None:
        self.engine = _engine(url or state_url())
        try:
            _META.create_all(self.engine)
        except sa.exc.SQLAlchemyError:
            _META.create_all(self.engine)  # another worker created it at the same moment

    def find(self, destination: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(DELIVERIES).where(DELIVERIES.c.destination == destination,
                                                           DELIVERIES.c.sha256 == sha256)).mappings().first()
        return dict(row) if row else None

    def record(self, destination: str, sha256: str, remote_path: str, size: int, run: str,
               control: dict[str, Any] | None = None) -> None:
        values = {"destination": destination, "sha256": sha256, "remote_path": remote_path, "size": size, "run": run,
                  "delivered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "control": json.dumps(control or {}, sort_keys=True)}
        with self.engine.begin() as conn:
            if conn.execute(sa.select(DELIVERIES.c.sha256).where(DELIVERIES.c.destination == destination,
                                                                  DELIVERIES.c.sha256 == sha256)).first():
                conn.execute(DELIVERIES.update().where(DELIVERIES.c.destination == destination,
                                                       DELIVERIES.c.sha256 == sha256).values(**values))
            else:
                conn.execute(DELIVERIES.insert().values(**values))

    def by_control(self, destination_prefix: str) -> list[dict[str, Any]]:
        """Every delivery to destinations starting with ``destination_prefix``, control numbers decoded."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(DELIVERIES).where(DELIVERIES.c.destination.startswith(destination_prefix)))
            return [dict(row, control=json.loads(row["control"] or "{}")) for row in rows.mappings()]


INBOUND = sa.Table(
    "mlc_inbound_file", _META,
    sa.Column("source", sa.String(500), primary_key=True),  # sftp://<conn>/<feed>
    sa.Column("sha256", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # processing | done | rejected
    sa.Column("rows", sa.Integer, nullable=True),
    sa.Column("posted", sa.Integer, nullable=True),
    sa.Column("rejected", sa.Integer, nullable=True),
    sa.Column("skipped", sa.Integer, nullable=True),
    sa.Column("first_seen", sa.String(40), nullable=False),
    sa.Column("updated", sa.String(40), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
)


class InboundLedger:
    """Which inbound file (by sha256) from which feed was processed, and how it ended.

    ``processing`` means posting began and did not finish (a crash, a lost session): the next run
    takes the file again and finishes it; the writes themselves are idempotent by business key.
    """

    def __init__(self, url: str | None = None) -> None:
        self.engine = _engine(url or state_url())
        try:
            _META.create_all(self.engine)
        except sa.exc.SQLAlchemyError:
            _META.create_all(self.engine)

    def find(self, source: str, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(INBOUND).where(INBOUND.c.source == source, INBOUND.c.sha256 == sha256)
                               ).mappings().first()
        return dict(row) if row else None

    def mark(self, source: str, sha256: str, name: str, status: str, run: str, **counts: int) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        values = {"name": name, "status": status, "run": run, "updated": now, **counts}
        where = (INBOUND.c.source == source, INBOUND.c.sha256 == sha256)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(INBOUND.c.sha256).where(*where)).first():
                conn.execute(INBOUND.update().where(*where).values(**values))
            else:
                conn.execute(INBOUND.insert().values(source=source, sha256=sha256, first_seen=now, **values))
