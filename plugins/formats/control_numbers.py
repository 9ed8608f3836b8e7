"""Interchange and group control numbers: unique per sender/receiver pair, rising across runs and
restarts, and the same again when the same run is rendered again.

``allocate(key, run_key)`` returns the next number of sequence ``key`` (e.g.
``"ISA|ZZ:SENDER|ZZ:RECEIVER"``) and remembers it under ``run_key`` (dag, run, task, file): asking
again with the same ``run_key`` returns the same number, so a retry or a replay renders the same
bytes. Two stores: a JSON file under an OS lock (one machine), and a SQL table (any SQLAlchemy URL,
e.g. the deployment's PostgreSQL, so every worker shares one sequence).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Protocol

MAX_CONTROL = 999_999_999
RUNS_KEPT = 5000


class ControlNumberStore(Protocol):
    def allocate(self, key: str, run_key: str) -> int:
        """Next number of sequence ``key``, or the one already given to ``run_key``."""


def _next(last: int) -> int:
    return 1 if last >= MAX_CONTROL else last + 1


class FileControlNumberStore:
    """Sequences in a JSON file, serialised by ``flock`` (safe across processes on one machine)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def allocate(self, key: str, run_key: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text()) if self.path.exists() else {}
            sequence = state.setdefault(key, {"last": 0, "runs": {}})
            if run_key in sequence["runs"]:
                return int(sequence["runs"][run_key])
            number = _next(int(sequence["last"]))
            sequence["last"] = number
            sequence["runs"][run_key] = number
            if len(sequence["runs"]) > RUNS_KEPT:
                for old in list(sequence["runs"])[: len(sequence["runs"]) - RUNS_KEPT]:
                    del sequence["runs"][old]
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
            return number


class SqlControlNumberStore:
    """Sequences in two tables of a shared database (created when missing); one transaction each."""

    def __init__(self, url: str, table_prefix: str = "mlc_control") -> None:
        self.url = url
        self.prefix = table_prefix
        self._engine = None

    def _tables(self):
        import sqlalchemy as sa

        if self._engine is None:
            engine = sa.create_engine(self.url, future=True)
            meta = sa.MetaData()
            self._seq = sa.Table(f"{self.prefix}_sequence", meta, sa.Column("key", sa.String(200), primary_key=True),
                                 sa.Column("last", sa.BigInteger, nullable=False))
            self._runs = sa.Table(f"{self.prefix}_run", meta, sa.Column("key", sa.String(200), primary_key=True),
                                  sa.Column("run_key", sa.String(500), primary_key=True),
                                  sa.Column("number", sa.BigInteger, nullable=False))
            for attempt in range(3):
                try:
                    meta.create_all(engine)
                    break
                except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                    # Two workers creating the tables at once: PostgreSQL lets one win; look again.
                    if attempt == 2:
                        raise
            self._engine = engine
        return self._engine, self._seq, self._runs

    def allocate(self, key: str, run_key: str) -> int:
        import sqlalchemy as sa

        for attempt in range(3):
            try:
                return self._allocate(key, run_key)
            except sa.exc.IntegrityError:
                # The same run_key allocated at the same moment elsewhere: its number is now stored.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _allocate(self, key: str, run_key: str) -> int:
        import sqlalchemy as sa

        engine, seq, runs = self._tables()
        with engine.begin() as conn:
            found = conn.execute(sa.select(runs.c.number).where(runs.c.key == key, runs.c.run_key == run_key)).first()
            if found:
                return int(found[0])
            row = conn.execute(sa.select(seq.c.last).where(seq.c.key == key).with_for_update()).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(seq.insert().values(key=key, last=0))
                except sa.exc.IntegrityError:
                    pass
                row = conn.execute(sa.select(seq.c.last).where(seq.c.key == key).with_for_update()).first()
            number = _next(int(row[0]))
            conn.execute(seq.update().where(seq.c.key == key).values(last=number))
            conn.execute(runs.insert().values(key=key, run_key=run_key, number=number))
            return number
