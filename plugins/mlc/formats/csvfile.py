"""CSV (RFC 4180) written as rows come: header, delimiter, quoting, encoding, BOM and line ending
per mapping, and an option that neutralises spreadsheet formula injection in text cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from mlc.formats.errors import RenderError

QUOTING = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL, "nonnumeric": csv.QUOTE_NONNUMERIC}
LINE_ENDINGS = {"crlf": "\r\n", "lf": "\n", "\r\n": "\r\n", "\n": "\n"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    quoting: str = "minimal"
    encoding: str = "utf-8"
    bom: bool = False
    line_ending: str = "crlf"
    header: bool = True
    formula_guard: bool = False

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1 or self.delimiter in "\"\r\n":
            raise ValueError(f"CSV delimiter must be one character other than a quote or newline, not {self.delimiter!r}")
        if self.quoting not in QUOTING:
            raise ValueError(f"CSV quoting must be one of {sorted(QUOTING)}, not {self.quoting!r}")
        if self.line_ending not in LINE_ENDINGS:
            raise ValueError(f"CSV line ending must be crlf or lf, not {self.line_ending!r}")
        codecs.lookup(self.encoding)


def neutralise(value: str) -> str:
    """Prefix a text cell that a spreadsheet would run as a formula with ``'`` (OWASP advice).

    Numbers, including negative ones (``-12.50``), are left alone.
    """
    if value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


_CELL_STARTS_FORMULA = re.compile("(?:^|\x00)[=+\\-@\t\r]")


def _may_hold_formula(cells: list[Any]) -> bool:
    """Whether a cell of the row may start as a formula does: one search over the row (a cell's text never
    starts a formula without this finding it), instead of a look at each cell."""
    try:
        return _CELL_STARTS_FORMULA.search("\x00".join(cells)) is not None
    except TypeError:  # a cell that is not text (a number): cell by cell
        return True


def write_csv(out: IO[bytes], columns: Sequence[str], rows: Iterable[Sequence[Any]],
              options: CsvOptions | None = None) -> int:
    """Write ``rows`` (sequences aligned with ``columns``) to ``out``; return the number of data rows."""
    options = options or CsvOptions()
    text = io.TextIOWrapper(out, encoding=options.encoding, errors="strict", newline="", write_through=False)
    try:
        if options.bom and options.encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            text.write("\ufeff")
        writer = csv.writer(text, delimiter=options.delimiter, quoting=QUOTING[options.quoting],
                            lineterminator=LINE_ENDINGS[options.line_ending])
        if options.header:  # a header cell is a cell a spreadsheet runs like any other
            writer.writerow([neutralise(c) for c in columns] if options.formula_guard else columns)
        count = 0
        for count, row in enumerate(rows, 1):
            if len(row) != len(columns):
                raise RenderError(f"has {len(row)} values for {len(columns)} columns", record=count)
            cells = ["" if v is None else v for v in row]
            if options.formula_guard and _may_hold_formula(cells):
                cells = [neutralise(c) if isinstance(c, str) else c for c in cells]
            try:
                writer.writerow(cells)
            except UnicodeEncodeError as exc:
                bad = exc.object[exc.start:exc.end]
                column = next((c for c, v in zip(columns, cells) if isinstance(v, str) and bad in v), None)
                raise RenderError(f"{bad!r} cannot be written in {options.encoding}", record=count,
                                  field=column) from None
        text.flush()
        return count
    finally:
        text.detach()
