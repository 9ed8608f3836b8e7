"""Fixed-width files: columns by name, start, width, alignment, padding, type and format, with
header / detail / trailer record types. A value that does not fit fails with the record and the
field named, unless the column allows truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

from mlc.formats.errors import RenderError
from mlc.formats.text import transliterate
from mlc.formats.values import as_date, as_decimal, decimal_text, implied


@dataclass(frozen=True)
class Column:
    """One field of a record: 1-based ``start`` and ``width``; ``type`` text, number, amount or date.

    ``format``: a strftime pattern for dates (default ``%Y%m%d``); for amounts ``implied2`` (cents,
    no decimal point, the default) or ``decimal2`` (explicit point, two places).
    """

    name: str
    start: int
    width: int
    type: str = "text"
    align: str | None = None
    pad: str | None = None
    format: str | None = None
    truncate: bool = False

    def __post_init__(self) -> None:
        if self.start < 1 or self.width < 1:
            raise ValueError(f"column {self.name!r}: start and width must be positive")
        if self.type not in ("text", "number", "amount", "date"):
            raise ValueError(f"column {self.name!r}: type must be text, number, amount or date")
        if self.align not in (None, "left", "right"):
            raise ValueError(f"column {self.name!r}: align must be left or right")
        if self.pad is not None and len(self.pad) != 1:
            raise ValueError(f"column {self.name!r}: pad must be one character")

    def render(self, value: Any, record: int | None) -> str:
        if value.__class__ is str and self.type == "text" and self.align != "right" and self.pad is None \
                and len(value) <= self.width and "\r" not in value and "\n" not in value:
            return value.ljust(self.width)  # the common text column, as the general path below writes it
        numeric = self.type in ("number", "amount")
        align = self.align or ("right" if numeric else "left")
        pad = self.pad or ("0" if numeric else " ")
        if value is None or value == "":
            text = ""
        elif self.type == "date":
            day: date = as_date(value, self.name, record)
            text = day.strftime(self.format or "%Y%m%d")
        elif self.type == "amount":
            amount = as_decimal(value, self.name, record)
            text = decimal_text(amount, 2) if self.format == "decimal2" else implied(amount, 2)
        elif self.type == "number":
            text = decimal_text(as_decimal(value, self.name, record))
        else:
            text = str(value).replace("\r", " ").replace("\n", " ")
        if numeric and text.startswith("-") and pad == "0" and align == "right":
            body = text[1:].rjust(self.width - 1, "0")
            text = "-" + body if len(body) == self.width - 1 else text
        if len(text) > self.width:
            if not self.truncate or numeric:
                raise RenderError(f"{text!r} does not fit in {self.width} characters", record=record, field=self.name)
            text = text[: self.width]
        return text.rjust(self.width, pad) if align == "right" else text.ljust(self.width, pad)


#: the key that marks a row as the record header of a header/line layout
RECORD_HEADER = "__record_header__"


@dataclass(frozen=True)
class RecordLayout:
    """A record type: its columns and its total length (the highest column end by default)."""

    columns: tuple[Column, ...]
    length: int | None = None
    filler: str = " "
    #: constant values of this record type, by column name (e.g. ``{"type": "H"}``)
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        taken: dict[int, str] = {}
        for col in self.columns:
            for pos in range(col.start, col.start + col.width):
                if pos in taken:
                    raise ValueError(f"columns {taken[pos]!r} and {col.name!r} overlap at position {pos}")
                taken[pos] = col.name
        end = max((c.start + c.width - 1 for c in self.columns), default=0)
        if self.length is not None and self.length < end:
            raise ValueError(f"record length {self.length} is shorter than its columns (end at {end})")
        # The line as pieces in position order: the filler before each column, and after the last one.
        order = sorted(range(len(self.columns)), key=lambda i: self.columns[i].start)
        gaps, at = [], 1
        for i in order:
            gaps.append(self.filler * (self.columns[i].start - at))
            at = self.columns[i].start + self.columns[i].width
        object.__setattr__(self, "_order", tuple(zip(gaps, order)))
        object.__setattr__(self, "_tail", self.filler * ((self.length or end) - at + 1))

    def render(self, values: Mapping[str, Any], record: int | None) -> str:
        values = {**self.fields, **values}  # constants of the record type (e.g. its type code)
        # Each column renders to exactly its width, in the order declared (the first error is the first column's).
        texts = [col.render(values.get(col.name), record) for col in self.columns]
        return "".join([piece for gap, i in self._order for piece in (gap, texts[i])]) + self._tail  # type: ignore[attr-defined]


def write_fixed(out: IO[bytes], detail: RecordLayout, rows: Iterable[Mapping[str, Any]], *,
                header: RecordLayout | None = None, trailer: RecordLayout | None = None,
                record_header: RecordLayout | None = None,
                header_values: Mapping[str, Any] | None = None, sum_fields: Sequence[str] = (),
                encoding: str = "ascii", line_ending: str = "\r\n",
                on_error: Callable[[int, RenderError], None] | None = None, text: str = "clean",
                on_adjust: Callable[[int | None, str], None] | None = None,
                rendered: dict[int, tuple[Mapping[str, Any], str]] | None = None) -> int:
    """Write header, one detail line per row, and a trailer; return the number of detail lines.

    A row marked ``{RECORD_HEADER: True}`` is written with ``record_header`` (a header/line layout: one record
    type heading each record's lines); it is not counted or summed, and the trailer sees how many there were
    in ``group_count``.
    The trailer sees ``record_count`` and ``sum_<field>`` for every name in ``sum_fields``. With
    ``on_error``, a row that cannot be rendered is handed to it (row number, error) and left out of
    the file, the count and the sums; without it, the error is raised. A character the encoding cannot
    hold (CJK in an ASCII file) is, under ``text="clean"``, transliterated when one character will do
    (``é`` -> ``e``) or replaced by ``?``, keeping every column in place, and ``on_adjust`` is told;
    under ``text="refuse"`` the row is an error. ``rendered``: lines the caller already rendered, as ``id(row)``:
    ``(row, line)`` (a check that each line of a record fits before any is written), taken instead of rendering
    again when it is that very row.
    """
    if text not in ("clean", "refuse"):
        raise ValueError(f"fixed_width text must be 'clean' or 'refuse', not {text!r}")

    def encode(line: str, record: int | None) -> bytes:
        try:
            return (line + line_ending).encode(encoding)
        except UnicodeEncodeError as exc:
            if text == "refuse":
                raise RenderError(f"{exc.object[exc.start:exc.end]!r} cannot be written in {encoding}",
                                  record=record) from None
        fitted = "".join(_fit(ch, encoding) for ch in line)
        if on_adjust is not None:
            on_adjust(record, f"characters that {encoding} cannot hold replaced")
        return (fitted + line_ending).encode(encoding)

    def emit(line: str, record: int | None) -> None:
        out.write(encode(line, record))

    if header is not None:
        emit(header.render(header_values or {}, None), None)
    count = groups = 0
    sums = {name: Decimal(0) for name in sum_fields}
    for number, row in enumerate(rows, 1):
        heading = bool(row.get(RECORD_HEADER)) and record_header is not None
        try:
            done = rendered.pop(id(row), None) if rendered else None
            line = done[1] if done is not None and done[0] is row else None
            if line is None:
                line = (record_header if heading else detail).render(row, number)  # type: ignore[union-attr]
            data = encode(line, number)
            amounts = {} if heading else {n: as_decimal(row[n], n, number) for n in sum_fields
                                          if row.get(n) not in (None, "")}
        except RenderError as exc:
            if on_error is None:
                raise
            on_error(number, exc)
            continue
        out.write(data)
        if heading:
            groups += 1
            continue
        count += 1
        for name, amount in amounts.items():
            sums[name] += amount
    if trailer is not None:
        emit(trailer.render({**(header_values or {}), "record_count": count, "group_count": groups,
                             **{f"sum_{k}": v for k, v in sums.items()}}, None), None)
    return count


def _fit(ch: str, encoding: str) -> str:
    """One character in ``encoding``: itself, a one-character transliteration, or ``?``."""
    for candidate in (ch, transliterate(ch)):
        if len(candidate) == 1:
            try:
                candidate.encode(encoding)
                return candidate
            except UnicodeEncodeError:
                continue
    return "?"
