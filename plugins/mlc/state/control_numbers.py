"""Control numbers in the state database, so every worker shares one sequence per sender/receiver pair.

The contract (:class:`mlc.formats.control_numbers.ControlNumberStore`) is the formats library's: the
next number of a sequence, or the one a run key was already given.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlc.formats.control_numbers import next_number
from mlc.state.schema import CONTROL_RUNS, CONTROL_SEQUENCES, ensure_tables


class SqlControlNumberStore:
    """Sequences in two tables of a shared database; one transaction per allocation."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = ensure_tables(self.url)
        return self._engine

    def allocate(self, key: str, run_key: str) -> int:
        for attempt in range(3):
            try:
                return self._allocate(key, run_key)
            except sa.exc.IntegrityError:
                # The same run_key allocated at the same moment elsewhere: its number is now stored.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _allocate(self, key: str, run_key: str) -> int:
        seq, runs = CONTROL_SEQUENCES, CONTROL_RUNS
        with self.engine.begin() as conn:
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
            number = next_number(int(row[0]))
            conn.execute(seq.update().where(seq.c.key == key).values(last=number))
            conn.execute(runs.insert().values(key=key, run_key=run_key, number=number))
            return number


def control_number_store() -> SqlControlNumberStore:
    """Control numbers per sender/receiver pair, rising across runs, the same for a replayed run."""
    return SqlControlNumberStore()
