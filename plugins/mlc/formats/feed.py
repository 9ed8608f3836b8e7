"""Reading a customer's tabular export (Stampli's CSV files; XML templates: :mod:`mlc.formats.feed_xml`)
through a feed configuration.

Nothing about Stampli's export files is public (reference/stampli.md), so every detail is
configuration, checked strictly when it is loaded and when a file is read:

* the feed file (``include/mappings/stampli_to_intacct/*.yaml``) names the folder, the file
  patterns, encoding, delimiter, date and number formats, and maps each canonical column to the
  header used in the customer's file (headers match without regard to case or surrounding blanks);
* a file whose header lacks a required column, or names a mapped column twice, is refused as a whole
  (:class:`FeedSchemaError`), and so is a file with a line the CSV reader cannot parse (an
  unterminated quote, a stray character after a closing quote): the reader cannot find the next row
  again, so no row of such a file can be trusted, and no bill may be posted with a line missing;
* each row is checked on its own: a bad cell raises :class:`RowError` naming the row and the
  canonical field, and the other rows go on. Amounts follow the feed's declared notation strictly
  (:meth:`FeedConfig.amount`): anything else is refused, never read as another number.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

import yaml

from mlc.formats.errors import FormatError, MappingError
from mlc.formats.values import MAX_INTEGER_DIGITS

FEEDS = ("invoices", "payments")
_KEYS = {"feed", "description", "remote_dir", "file_globs", "archive_dir", "error_dir", "delimiter", "encoding",
         "quotechar", "date_format", "decimal", "thousands", "stable_after_seconds", "currencies", "columns",
         "required", "payment_methods", "skip_statuses", "allow_credit_memos", "allow_zero_amounts", "earliest_date",
         "latest_date", "format", "row_path"}
_XML_PATH = re.compile(r"^(\.\./)*([A-Za-z_][\w.-]*/)*(@?[A-Za-z_][\w.-]*)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class FeedSchemaError(FormatError):
    """The file as a whole cannot be read with this feed (missing columns, wrong encoding)."""

    def __init__(self, message: str, *, source: str = "") -> None:
        self.source, self.reason = source, message
        super().__init__(f"{source}: {message}" if source else message)


class RowError(FormatError):
    """One row cannot be taken: names the row (spreadsheet numbering), the canonical field and why."""

    def __init__(self, reason: str, *, row: int | None = None, field: str | None = None) -> None:
        self.row, self.field, self.reason = row, field, reason
        where = " ".join(p for p in (f"row {row}" if row else "", f"field {field!r}" if field else "") if p)
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclass(frozen=True)
class FeedConfig:
    """One customer feed: where its files are, how they are written, which header is which column."""

    feed: str
    remote_dir: str
    file_globs: tuple[str, ...]
    columns: Mapping[str, str]
    required: tuple[str, ...]
    archive_dir: str = "archive"
    error_dir: str = "errors"
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    quotechar: str = '"'
    date_format: str = "%m/%d/%Y"
    decimal: str = "."
    thousands: str = ","
    stable_after_seconds: float = 30.0
    currencies: tuple[str, ...] = ()
    payment_methods: Mapping[str, str] = field(default_factory=dict)
    skip_statuses: tuple[str, ...] = ("cancelled", "canceled", "rejected", "void")
    allow_credit_memos: bool = False  # an invoice whose total is below zero
    allow_zero_amounts: bool = False  # an invoice, or a payment of a bill, of 0.00
    earliest_date: date = date(1990, 1, 1)
    latest_date: date = date(2099, 12, 31)
    source: str = ""
    format: str = "csv"  # or "xml": columns are element paths from each row_path element (formats/feed_xml.py)
    row_path: str = ""

    def __post_init__(self) -> None:
        if self.decimal not in (".", ",") or self.thousands not in ("", ",", ".", " ", "'") \
                or self.decimal == self.thousands:
            raise MappingError(f"decimal {self.decimal!r} and thousands {self.thousands!r} must be one of . , and of "
                               "'' , . space ' (and differ)", source=self.source)
        sep = re.escape(self.thousands) if self.thousands else ""
        grouped = rf"[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+" if sep else None
        digits = rf"(?:{grouped}|[0-9]+)" if grouped else "[0-9]+"
        object.__setattr__(self, "_amount", re.compile(
            rf"(?P<minus>-)?[$€£]?(?P<int>{digits})(?:{re.escape(self.decimal)}(?P<frac>[0-9]+))?"))

    # -- typed cells -------------------------------------------------------------------------------
    def amount(self, text: str, name: str, row: int | None = None, places: int = 2) -> Decimal:
        """An amount in the feed's declared notation, strictly: with decimal ``.`` and thousands ``,``,
        ``1,234.50``, ``1234.5``, ``-12``, ``(12.00)`` (negative), an optional ``$ € £`` before the digits.
        Thousands groups have three digits; more than ``places`` decimals is an error (never rounded); other
        notations (``1.234,56``, ``1,2,3``, ``1_000``, ``1E+26``, non-ASCII digits) are refused."""
        raw = text.strip()
        negative = raw.startswith("(") and raw.endswith(")")
        cleaned = raw[1:-1].strip() if negative else raw
        if self.thousands == " ":
            cleaned = cleaned.replace("\u00a0", " ")
        match = self._amount.fullmatch(cleaned)  # type: ignore[attr-defined]
        if match is None or (negative and match["minus"]):
            example = "1,234.56" if self.decimal == "." else "1.234,56"
            raise RowError(f"{text!r} is not an amount in this feed's notation (decimal {self.decimal!r}, thousands "
                           f"{self.thousands!r}, e.g. {example})", row=row, field=name)
        integer = match["int"].replace(self.thousands, "") if self.thousands else match["int"]
        fraction = match["frac"] or ""
        if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise RowError(f"{text!r} is too large for an amount", row=row, field=name)
        if len(fraction.rstrip("0")) > places:
            raise RowError(f"{text!r} has more decimals than the currency allows ({places}); not rounded", row=row,
                           field=name)
        value = Decimal(f"{integer}.{fraction or '0'}").quantize(Decimal(1).scaleb(-places))
        return -value if negative or match["minus"] else value

    def day(self, text: str, name: str, row: int | None = None) -> date:
        """A date in the feed's format; ISO ``YYYY-MM-DD`` is accepted as well."""
        raw = text.strip()
        for fmt in (self.date_format, "%Y-%m-%d"):
            try:
                day = datetime.strptime(raw, fmt).date()
            except ValueError:
                continue
            if not self.earliest_date <= day <= self.latest_date:
                raise RowError(f"{text!r} is outside the dates this feed takes ({self.earliest_date.isoformat()} to "
                               f"{self.latest_date.isoformat()})", row=row, field=name)
            return day
        example = date(2026, 1, 31).strftime(self.date_format)
        raise RowError(f"{text!r} is not a date (expected {self.date_format}, e.g. {example})", row=row, field=name)

    def currency(self, text: str, name: str, row: int | None = None) -> str:
        code = text.strip().upper()
        if not _CURRENCY.match(code):
            raise RowError(f"{text!r} is not a currency code (three letters, e.g. USD)", row=row, field=name)
        if self.currencies and code not in self.currencies:
            raise RowError(f"currency {code} is not one this company posts in ({', '.join(self.currencies)})",
                           row=row, field=name)
        return code


def load_feed(path: str | Path) -> FeedConfig:
    """Load and check a feed file; a mistake raises :class:`MappingError` naming the file and key."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read feed: {exc.strerror}", source=source) from None
    except yaml.YAMLError as exc:
        raise MappingError(f"not valid YAML: {exc}", source=source) from None
    if not isinstance(data, dict):
        raise MappingError("a feed is a mapping of settings", source=source)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise MappingError(f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}", source=source)
    if data.get("feed") not in FEEDS:
        raise MappingError(f"feed must be one of {', '.join(FEEDS)}", source=source)
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in columns.items()):
        raise MappingError("columns maps each canonical column to the header in the file (text to text)", source=source)
    fmt = data.get("format", "csv")
    if fmt not in ("csv", "xml"):
        raise MappingError(f"format must be csv or xml, not {fmt!r}", source=source)
    if fmt == "xml":
        row_path = data.get("row_path")
        if not isinstance(row_path, str) or not re.fullmatch(r"[A-Za-z_][\w.-]*(/[A-Za-z_][\w.-]*)*", row_path):
            raise MappingError("an xml feed needs row_path, the elements from the root to each row "
                               "(Invoice/Lines/Line)", source=source)
        bad = [f"{k}: {v!r}" for k, v in columns.items() if not _XML_PATH.match(v.strip())]
        if bad:
            raise MappingError(f"xml columns are element paths from the row (Amount, ../../InvoiceNumber, @id): "
                               f"{', '.join(bad)}", source=source)
    required = tuple(data.get("required") or ())
    missing = [name for name in required if name not in columns]
    if missing:
        raise MappingError(f"required column(s) {', '.join(missing)} have no header in columns", source=source)
    globs = data.get("file_globs") or (["*.xml", "*.XML"] if fmt == "xml" else ["*.csv"])
    if isinstance(globs, str):
        globs = [globs]
    for key in ("delimiter", "quotechar"):
        if key in data and (not isinstance(data[key], str) or len(data[key]) != 1):
            raise MappingError(f"{key} must be one character", source=source)
    try:
        codecs.lookup(str(data.get("encoding", "utf-8-sig")))
    except LookupError:
        raise MappingError(f"unknown encoding {data.get('encoding')!r}", source=source) from None
    settings = {k: v for k, v in data.items() if k not in ("description", "columns", "required", "file_globs",
                                                           "currencies", "payment_methods", "skip_statuses")}
    for key in ("earliest_date", "latest_date"):
        if key in settings and not isinstance(settings[key], date):
            raise MappingError(f"{key} must be a date (YYYY-MM-DD)", source=source)
    for key in ("allow_credit_memos", "allow_zero_amounts"):
        if key in settings and not isinstance(settings[key], bool):
            raise MappingError(f"{key} must be true or false", source=source)
    return FeedConfig(
        **settings, columns=dict(columns), required=required, file_globs=tuple(globs),
        currencies=tuple(str(c).upper() for c in data.get("currencies") or ()),
        payment_methods={str(k).strip().lower(): str(v) for k, v in (data.get("payment_methods") or {}).items()},
        skip_statuses=tuple(str(s).lower() for s in data.get("skip_statuses", FeedConfig.skip_statuses)),
        source=source)


@dataclass
class FeedRow:
    """One data row: ``values`` by canonical name (stripped text, "" when empty), ``cells`` as in the file."""

    number: int
    values: dict[str, str]
    cells: list[str]
    error: RowError | None = None


class FeedFile:
    """A file opened through a feed: ``header`` as written, then :meth:`rows` one at a time."""

    def __init__(self, stream: IO[bytes], config: FeedConfig, name: str) -> None:
        self.config, self.name = config, name
        self._text = io.TextIOWrapper(stream, encoding=config.encoding, newline="")
        self._reader = csv.reader(self._text, delimiter=config.delimiter, quotechar=config.quotechar, strict=True)
        try:
            header = next(self._reader, None)
        except UnicodeDecodeError as exc:
            raise FeedSchemaError(f"not {config.encoding} text ({exc.reason} at byte {exc.start} of a block); set "
                                  "the feed's encoding", source=name) from None
        except csv.Error as exc:
            raise FeedSchemaError(f"cannot read the header: {exc}", source=name) from None
        if not header:
            raise FeedSchemaError("the file is empty (no header row)", source=name)
        self.header = header
        positions: dict[str, list[int]] = {}
        for i, cell in enumerate(header):
            positions.setdefault(cell.strip().lstrip("\ufeff").casefold(), []).append(i)
        self.positions: dict[str, int] = {}
        for canonical, heading in config.columns.items():
            found = positions.get(heading.strip().casefold(), [])
            if len(found) > 1:
                raise FeedSchemaError(f"the header names {heading!r} ({canonical}) {len(found)} times (columns "
                                      f"{', '.join(str(i + 1) for i in found)}): which one holds the {canonical} is "
                                      "not known, so nothing of the file is posted", source=name)
            if found:
                self.positions[canonical] = found[0]
        absent = [f"{config.columns[c]!r} ({c})" for c in config.required if c not in self.positions]
        if absent:
            raise FeedSchemaError(f"required column(s) missing from the header: {', '.join(absent)}; the header has "
                                  f"{', '.join(repr(h) for h in header)}", source=name)

    def rows(self) -> Iterator[FeedRow]:
        """Every data row; blank lines are skipped, a malformed line is a row with ``error`` set."""
        number = 1
        width = len(self.header)
        while True:
            start = self._reader.line_num + 1  # the physical line the next row begins on
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise FeedSchemaError(f"not {self.config.encoding} text after row {number} ({exc.reason}); set the "
                                      "feed's encoding", source=self.name) from None
            except csv.Error as exc:
                end = self._reader.line_num
                where = f"line {start}" if end == start else f"the row that begins on line {start} (read to line {end})"
                raise FeedSchemaError(f"{where} is not valid CSV ({exc}): a reader cannot find the next row again "
                                      "after it, so no row of this file is posted; export the file again",
                                      source=self.name) from None
            number += 1
            if not any(cell.strip() for cell in cells):
                continue
            values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in self.positions.items()}
            row = FeedRow(number, values, cells)
            if len(cells) != width:
                row.error = RowError(f"the row has {len(cells)} cells, the header {width}", row=number)
            else:
                empty = [name for name in self.config.required if not values.get(name)]
                if empty:
                    row.error = RowError(f"required value missing ({self.config.columns[empty[0]]!r})", row=number,
                                         field=empty[0])
            yield row


def open_feed(stream: IO[bytes], config: FeedConfig, name: str) -> FeedFile:
    """The file opened as its feed says: CSV (:class:`FeedFile`) or XML (:class:`mlc.formats.feed_xml.XmlFeedFile`),
    both giving ``header`` and ``rows()``."""
    if config.format == "xml":
        from mlc.formats.feed_xml import XmlFeedFile

        return XmlFeedFile(stream, config, name)  # type: ignore[return-value]
    return FeedFile(stream, config, name)
