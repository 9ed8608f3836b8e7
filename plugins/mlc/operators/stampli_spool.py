"""A Stampli file's rows on local disk, given back bill by bill (or payment by payment), so that posting
an export of any size keeps memory flat: a 1 GB file is never held in memory, only a batch of bills.

The rows of one bill may be anywhere in the file, and the whole file must be read (a line the CSV
reader cannot parse refuses the file before anything is posted) before the first bill is known to
be complete. So the file is read once into a SQLite file in a temporary folder, then given back in
groups: each bill's rows together, the bills in the order their first row has in the file. Each
row's outcome is kept there too, and read back in row order for the AUDIT lines and the error
report.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlc.formats.feed import FeedRow, RowError


def _dump(row: FeedRow) -> str:
    error = [row.error.reason, row.error.row, row.error.field] if row.error else None
    return json.dumps([row.values, row.cells, error], ensure_ascii=False, separators=(",", ":"))


def _load(number: int, text: str) -> FeedRow:
    values, cells, error = json.loads(text)
    return FeedRow(number, values, cells, RowError(error[0], row=error[1], field=error[2]) if error else None)


class RowSpool:
    """The rows of one file, on disk in ``folder``; :meth:`close` removes nothing (the folder's owner does)."""

    def __init__(self, folder: Path) -> None:
        self.db = sqlite3.connect(folder / "rows.db", isolation_level=None)
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; PRAGMA cache_size=-8192;"
            "CREATE TABLE row (number INTEGER PRIMARY KEY, grp TEXT NOT NULL, data TEXT NOT NULL);"
            "CREATE TABLE outcome (number INTEGER PRIMARY KEY, data TEXT NOT NULL);")
        self.rows = 0
        self.widest = 0

    def fill(self, rows: Iterator[FeedRow], key: Callable[[dict[str, str]], str | None]) -> int:
        """Take every row of the file (in one transaction); a row that names no group is a group of its own."""
        self.db.execute("BEGIN")
        for row in rows:
            group = key(row.values)
            self.db.execute("INSERT INTO row VALUES (?, ?, ?)", (row.number, group if group is not None
                                                                  else f"\x00row {row.number}", _dump(row)))
            self.rows += 1
            self.widest = max(self.widest, len(row.cells))
        self.db.execute("COMMIT")
        self.db.execute("CREATE INDEX row_grp ON row (grp, number)")
        return self.rows

    def batches(self, groups_per_batch: int) -> Iterator[list[FeedRow]]:
        """The rows again, whole groups at a time, at most ``groups_per_batch`` groups a batch."""
        cursor = self.db.execute(
            "SELECT r.number, r.grp, r.data FROM row r JOIN (SELECT grp, MIN(number) AS first FROM row GROUP BY grp) g"
            " ON g.grp = r.grp ORDER BY g.first, r.number")
        batch: list[FeedRow] = []
        groups, current = 0, None
        for number, group, data in cursor:
            if group != current:
                if groups >= groups_per_batch:
                    yield batch
                    batch, groups = [], 0
                current, groups = group, groups + 1
            batch.append(_load(number, data))
        if batch:
            yield batch

    def settle(self, outcomes: dict[int, dict[str, Any]]) -> None:
        """Keep the outcomes of a batch (the first outcome of a row stands)."""
        self.db.executemany("INSERT OR IGNORE INTO outcome VALUES (?, ?)",
                            [(n, json.dumps(o, default=str)) for n, o in outcomes.items()])

    def settled(self) -> Iterator[tuple[FeedRow, dict[str, Any]]]:
        """Each row with its outcome, in file order."""
        cursor = self.db.execute("SELECT r.number, r.data, o.data FROM row r JOIN outcome o ON o.number = r.number "
                                 "ORDER BY r.number")
        for number, data, outcome in cursor:
            yield _load(number, data), json.loads(outcome)

    def close(self) -> None:
        self.db.close()
