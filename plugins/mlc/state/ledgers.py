"""The ledgers that make delivery and pick-up idempotent: what reached which destination, and which
inbound file was processed and how it ended."""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from mlc.state.schema import DELIVERIES, DELIVERY_ACKS, INBOUND, ensure_tables


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

    def destinations(self, prefix: str) -> list[str]:
        """Every destination that begins with ``prefix`` (``sterling://<conn>/``: each mailbox of a Sterling)."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(DELIVERIES.c.destination).distinct()
                                       .where(DELIVERIES.c.destination.startswith(prefix, autoescape=True))).scalars())

    def at(self, destination: str) -> list[dict[str, Any]]:
        """Every file delivered to exactly ``destination`` (never a folder beside or below it), control numbers
        decoded; the keys that only name content (``content:``) are left out."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(DELIVERIES).where(DELIVERIES.c.destination == destination,
                                                            ~DELIVERIES.c.sha256.startswith("content:")))
            return [dict(row, control=json.loads(row["control"] or "{}")) for row in rows.mappings()]


#: how bad each answer is: a file keeps the worst answer any of its parts got
ACK_SEVERITY = {"accepted": 1, "accepted with errors": 2, "invalid": 3, "rejected": 4}


class AckLedger:
    """What the partner answered for each delivered file, and which files are overdue an answer.

    A mapping that expects acknowledgments says within how many hours (``ack_expected_within_hours``); the
    delivery ledger keeps that figure with the file's control numbers, so the rule travels with the file.
    """

    def __init__(self, url: str | None = None) -> None:
        self.engine = ensure_tables(url)

    def answered(self, destination: str, sha256: str, status: str, ack_file: str, codes: str | None = None) -> None:
        """Note the partner's answer for one part of a file (a set, a message, the interchange): the file keeps its
        worst answer (a rejection is never overwritten by a later acceptance of another part) and every part's
        error codes (``codes``: ``"set 0001: 5, IT1@6:8"``), each part once."""
        where = (DELIVERY_ACKS.c.destination == destination, DELIVERY_ACKS.c.sha256 == sha256)
        with self.engine.begin() as conn:
            known = conn.execute(sa.select(DELIVERY_ACKS.c.status, DELIVERY_ACKS.c.codes).where(*where)).first()
            said = [part for part in (known.codes or "").split("; ") if part] if known is not None else []
            said += [codes] if codes and codes not in said else []
            worse = known is None or ACK_SEVERITY.get(status, 0) >= ACK_SEVERITY.get(known.status, 0)
            _upsert(conn, DELIVERY_ACKS, where, {"destination": destination, "sha256": sha256},
                    {**({"status": status, "ack_file": ack_file} if worse else {}), "codes": "; ".join(said) or None,
                     "updated": _now()})

    def delivered(self, destination: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every file delivered to ``destination`` with its acknowledgment state in ``ack``: the partner's answer
        (accepted, rejected, invalid), else ``overdue`` or ``pending`` (with ``due``) when its mapping expects
        one, else ``none expected``; ``alerted`` says whether the overdue alert went out."""
        now = now or datetime.now(timezone.utc)
        with self.engine.connect() as conn:
            answers = {row.sha256: row for row in conn.execute(
                sa.select(DELIVERY_ACKS).where(DELIVERY_ACKS.c.destination == destination))}
        files = []
        for row in DeliveryLedger(self.engine.url.render_as_string(hide_password=False)).at(destination):
            answer, hours = answers.get(row["sha256"]), row["control"].get("ack_within_hours")
            due = datetime.fromisoformat(row["delivered_at"]) + timedelta(hours=float(hours)) if hours else None
            if answer is not None and answer.status:
                ack = answer.status
            elif due is not None:
                ack = "overdue" if due <= now else "pending"
            else:
                ack = "none expected"
            files.append(dict(row, ack=ack, ack_file=answer.ack_file if answer is not None else None,
                              codes=answer.codes if answer is not None else None,
                              due=due.isoformat(timespec="seconds") if due else None,
                              alerted=bool(answer is not None and answer.overdue_alerted)))
        return files

    def overdue(self, destination: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Files at ``destination`` whose expected acknowledgment has not come in time and that were not yet
        alerted; each is returned until :meth:`alerted_all` is called for it."""
        return [row for row in self.delivered(destination, now) if row["ack"] == "overdue" and not row["alerted"]]

    def alerted_all(self, destination: str, sha256s: list[str]) -> None:
        """Note that the overdue alert for these deliveries went out, so it goes out once."""
        with self.engine.begin() as conn:
            for sha256 in sha256s:
                where = (DELIVERY_ACKS.c.destination == destination, DELIVERY_ACKS.c.sha256 == sha256)
                _upsert(conn, DELIVERY_ACKS, where, {"destination": destination, "sha256": sha256},
                        {"overdue_alerted": _now(), "updated": _now()})


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

    def recent(self, limit: int = 500) -> list[dict[str, Any]]:
        """The inbound files last seen, newest first (at most ``limit``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(INBOUND).order_by(INBOUND.c.updated.desc()).limit(limit)).mappings()
            return [dict(row) for row in rows]

    def mark(self, source: str, sha256: str, name: str, status: str, run: str, *, report: str | None = None,
             **counts: int) -> None:
        """Note how far a file got (``counts``: rows, posted, rejected, skipped) and where its error report is."""
        now = _now()
        where = (INBOUND.c.source == source, INBOUND.c.sha256 == sha256)
        with self.engine.begin() as conn:
            _upsert(conn, INBOUND, where, {"source": source, "sha256": sha256},
                    {"name": name, "status": status, "run": run, "updated": now, **counts,
                     **({"report": report} if report else {})}, {"first_seen": now})
