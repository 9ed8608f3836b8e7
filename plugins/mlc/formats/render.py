"""Render canonical or source records into a partner's file, as its mapping says.

``render(mapping, records, out, ...)`` streams: each record is mapped, built and written as it
comes. A record that cannot be rendered is not written and not dropped either: it is returned in
``RenderResult.rejected`` with its number, key and reason, and the rest of the file goes on. A value
the mapping's policy adjusted to fit (cut to its element's length, characters outside the file's
encoding replaced) is written and listed in ``RenderResult.adjusted``, so the caller can say so.

With a ``gate`` (:class:`RecordGate`), each record is shown to it with its key and a digest of what
the partner would see (the mapped record): the gate may let it pass by (already sent in that very
version, or waived by a person), and is told of each record written. No control number is taken
until a record is written, so a run that has nothing new spends none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol

from mlc.formats.control_numbers import ControlNumberStore
from mlc.formats.csvfile import CsvOptions, write_csv
from mlc.formats.edifact import EdifactParty, EdifactSyntax, EdifactWriter
from mlc.formats.edifact_sets import invoic
from mlc.formats.errors import RenderError
from mlc.formats.fixed_width import RECORD_HEADER, Column, RecordLayout, write_fixed
from mlc.formats.mapping import LEAF_KEYS, get_path
from mlc.formats.plan import compile_leaf, compile_rows, compile_spec
from mlc.formats.text import X12_BASIC, X12_EXTENDED, TextPolicy
from mlc.formats.x12 import FUNCTIONAL_IDS, Party, X12Separators, X12Writer
from mlc.formats.x12_sets import BUILDERS


@dataclass
class RenderResult:
    records: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    #: values written other than they came: ``{"record", "key", "field", "change"}``
    adjusted: list[dict[str, Any]] = field(default_factory=list)
    #: records the gate let pass by, not written: ``{"record", "key", "reason"}``
    passed: list[dict[str, Any]] = field(default_factory=list)
    control_numbers: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0
    sha256: str = ""


class RecordGate(Protocol):
    """Decides, record by record, what goes into the file (the per-record ledger, waivers)."""

    def admit(self, record: Mapping[str, Any], key: str, digest: str) -> str | None:
        """``None`` to write the record, else why it passes by (``already sent``, ``waived``)."""

    def written(self, key: str, digest: str) -> None:
        """The record is in the file."""


def record_key(mapping: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    """The key a record is known by across runs: the source's RECORDNO when it has one (unique per object),
    else the mapping's ``record_key``."""
    key = record.get("RECORDNO")
    if key in (None, "") and mapping.get("record_key"):
        key = get_path(record, mapping["record_key"])
    return "" if key is None else str(key)


def digest(value: Any) -> str:
    """A digest of what the partner sees of one record (its mapped form)."""
    return hashlib.sha256(_DIGEST_JSON.encode(value).encode()).hexdigest()


# What digests are made of, and must stay (the ledger keeps them): json.dumps(value, sort_keys=True,
# separators=(",", ":"), default=str), its encoder made once.
_DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


class _Counting:
    """A binary writer that counts and hashes what passes through."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.size, self.digest = out, 0, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.digest.update(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def writable(self) -> bool:
        return True

    # io.TextIOWrapper (CSV) needs these on the raw stream
    closed = False

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False


def file_name(mapping: Mapping[str, Any], *, timestamp: datetime, run_id: str = "", control: Any = "") -> str:
    """The delivered file name from the mapping's pattern (``{date:%Y%m%d}``, ``{control}``, ``{run}``)."""
    pattern = mapping.get("file_name") or "{document}_{date:%Y%m%d%H%M%S}.txt"
    try:
        name = pattern.format(date=timestamp, control=control, run=run_id, document=mapping.get("document", "data"))
    except (KeyError, ValueError, IndexError) as exc:
        raise RenderError(f"file_name pattern {pattern!r} is invalid: {exc}", field="file_name") from None
    if "/" in name or "\\" in name or name.startswith(".") or not name.strip():
        raise RenderError(f"file name {name!r} must be a plain file name", field="file_name")
    return name


def _mapped(mapping: Mapping[str, Any], records: Iterable[Mapping[str, Any]], result: RenderResult,
            gate: RecordGate | None = None) -> Iterator[tuple[int, dict[str, Any], tuple[str, str] | None]]:
    """Yield (record number, canonical record, its (key, digest) for the gate); a record that cannot be mapped
    goes to ``rejected``, one the gate lets pass to ``passed``."""
    key_field = mapping.get("record_key")
    build = compile_spec(mapping["fields"])
    for index, record in enumerate(records, 1):
        try:
            canonical = build(record, index)
        except RenderError as exc:
            result.rejected.append(_rejection(exc, index, record, key_field))
            continue
        mark = _gate(gate, mapping, record, canonical, index, result)
        if mark is not False:
            yield index, canonical, mark


def _gate(gate: RecordGate | None, mapping: Mapping[str, Any], record: Mapping[str, Any], mapped: Any, index: int,
          result: RenderResult) -> tuple[str, str] | None | bool:
    """(key, digest) of a record the gate admits, ``None`` without a gate, ``False`` when it passes by."""
    if gate is None:
        return None
    key, seen = record_key(mapping, record), digest(mapped)
    reason = gate.admit(record, key, seen)
    if reason is None:
        return key, seen
    result.passed.append({"record": index, "key": key, "reason": reason})
    return False


def _rejection(exc: RenderError, index: int, record: Mapping[str, Any], key_field: str | None) -> dict[str, Any]:
    key = exc.key or (str(get_path(record, key_field)) if key_field and get_path(record, key_field) else None)
    return {"record": index, "key": key, "field": exc.field, "error": exc.reason}


def render(mapping: Mapping[str, Any], records: Iterable[Mapping[str, Any]], out: IO[bytes], *,
           timestamp: datetime, run_key: str, store: ControlNumberStore, gate: RecordGate | None = None
           ) -> RenderResult:
    """Write ``records`` to ``out`` as ``mapping`` says; return counts, rejections, control numbers."""
    result = RenderResult()
    sink = _Counting(out)
    fmt = mapping["format"]
    if fmt == "x12":
        _render_x12(mapping, records, sink, timestamp, run_key, store, result, gate)
    elif fmt == "edifact":
        _render_edifact(mapping, records, sink, timestamp, run_key, store, result, gate)
    elif fmt == "csv":
        _render_csv(mapping, records, sink, result, gate)
    else:
        _render_fixed(mapping, records, sink, result, gate)
    result.bytes = sink.size
    result.sha256 = sink.digest.hexdigest()
    return result


def _party(spec: Mapping[str, Any]) -> Party:
    return Party(str(spec.get("qualifier", "ZZ")), str(spec["id"]), spec.get("group_id"))


def _ack_rule(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The acknowledgment the partner owes, kept with the file's control numbers (the ack poller reads it)."""
    hours = conf.get("ack_expected_within_hours")
    return {"ack_within_hours": hours} if hours else {}


def _render_x12(mapping, records, sink, timestamp, run_key, store, result, gate) -> None:
    conf = mapping["x12"]
    sender, receiver = _party(conf["sender"]), _party(conf["receiver"])
    pair = f"{sender.qualifier}:{sender.id}|{receiver.qualifier}:{receiver.id}"
    text = conf.get("text") or {}
    charset = X12_BASIC if text.get("charset") == "basic" else X12_EXTENDED
    set_id = str(mapping["document"])
    build = BUILDERS[set_id]
    writer, numbers, sets = None, {}, _Sequence()

    def open_writer() -> X12Writer:  # the control numbers are taken when the first set is written
        numbers["isa13"], numbers["gs06"] = store.allocate(f"ISA|{pair}", run_key), store.allocate(f"GS|{pair}", run_key)
        opened = X12Writer(sink, sender=sender, receiver=receiver, control_number=numbers["isa13"],
                           timestamp=timestamp, version=str(conf.get("version", "00401")), usage=conf.get("usage", "P"),
                           ack_requested=bool(conf.get("ack_requested", False)),
                           separators=X12Separators(**conf["separators"]) if conf.get("separators") else None,
                           text=TextPolicy(policy=text.get("policy", "clean"), charset=charset,
                                           upper=bool(text.get("upper", False))),
                           line_break=bool(conf.get("line_break", True)))
        opened.begin_group(FUNCTIONAL_IDS[set_id], numbers["gs06"])
        return opened

    def write_one(index: int, canonical: dict[str, Any]) -> None:
        nonlocal writer
        segments = build(canonical, index, length=conf.get("length", "cut"), notes=result.adjusted)
        writer = writer or open_writer()
        sets.add(writer.write_set(set_id, segments, record=index))

    _write_each(_mapped(mapping, records, result, gate), write_one, result, gate)
    if writer is not None:
        writer.close()
        result.control_numbers.update({"isa13": f"{numbers['isa13']:09d}", "gs06": str(numbers["gs06"]),
                                       **sets.summary("st02"), "sender": sender.id, "receiver": receiver.id,
                                       "gs02": sender.group_id, "gs03": receiver.group_id,
                                       "functional_id": FUNCTIONAL_IDS[set_id], **_ack_rule(conf)})


def _render_edifact(mapping, records, sink, timestamp, run_key, store, result, gate) -> None:
    conf = mapping["edifact"]
    syntax = EdifactSyntax(**(conf.get("syntax") or {}))
    sender = EdifactParty(str(conf["sender"]["id"]), str(conf["sender"].get("qualifier", "14")))
    recipient = EdifactParty(str(conf["recipient"]["id"]), str(conf["recipient"].get("qualifier", "14")))
    writer, refs, reference = None, _Sequence(), ""

    def write_one(index: int, canonical: dict[str, Any]) -> None:
        nonlocal writer, reference
        identifier, segments = invoic(canonical, index, syntax=syntax, directory=conf.get("directory", "D96A"),
                                      length=conf.get("length", "cut"), notes=result.adjusted)
        if writer is None:  # the interchange reference is taken when the first message is written
            number = store.allocate(f"UNB|{sender.qualifier}:{sender.id}|{recipient.qualifier}:{recipient.id}",
                                    run_key)
            reference = f"{number:09d}"
            writer = EdifactWriter(sink, sender=sender, recipient=recipient, reference=reference,
                                   timestamp=timestamp, syntax=syntax, policy=conf.get("policy", "clean"),
                                   application=conf.get("application"), test=bool(conf.get("test", False)),
                                   line_break=bool(conf.get("line_break", True)))
        refs.add(writer.write_message(identifier, segments, record=index))

    _write_each(_mapped(mapping, records, result, gate), write_one, result, gate)
    if writer is not None:
        writer.close()
        result.control_numbers.update({"unb": reference, **refs.summary("unh"), "sender": sender.id, "recipient": recipient.id,
                                       **_ack_rule(conf)})


class _Sequence:
    """The control numbers of the sets (messages) of one file as their count, first and last: what the file's
    audit line and the ledger keep, in memory that does not grow with the file."""

    def __init__(self) -> None:
        self.count, self.first, self.last = 0, "", ""

    def add(self, number: str) -> None:
        self.count += 1
        self.first, self.last = self.first or number, number

    def summary(self, name: str) -> dict[str, Any]:
        return {f"{name}_count": self.count, f"{name}_first": self.first, f"{name}_last": self.last}


def _write_each(mapped: Iterator[tuple[int, dict[str, Any], tuple[str, str] | None]],
                write_one: Callable[[int, dict[str, Any]], None], result: RenderResult, gate: RecordGate | None) -> None:
    """Write each mapped EDI record (one set or message); a record its builder refuses goes to ``rejected``."""
    for index, canonical, mark in mapped:
        try:
            write_one(index, canonical)
        except RenderError as exc:
            result.rejected.append(_rejection(exc, index, canonical, "number"))
            continue
        result.records += 1
        if mark:
            gate.written(*mark)


class _Position:
    """The record whose rows a flat renderer is writing, and how many records have had rows written: what a
    writer's report about its current row is turned into, without keeping anything per record."""

    def __init__(self, key_field: str | None) -> None:
        self.key_field, self.index, self.record, self.records = key_field, 0, None, 0

    def key(self) -> str | None:
        value = get_path(self.record, self.key_field) if self.key_field and self.record is not None else None
        return None if value is None else str(value)


def _flat_rows(mapping, records, result, gate: RecordGate | None = None,
               marks: dict[int, tuple[str, str]] | None = None,
               check: Callable[[Any, int], None] | None = None,
               position: _Position | None = None, as_dicts: bool = False) -> Iterator[tuple[int, Any]]:
    """Yield (record number, row) for a flat file: one row per record, or with ``lines: <path>`` in the mapping
    one row per line of the record (the record's fields repeated on each, the line's under ``line.``). A row is
    the tuple of its columns' values (:func:`flat_columns`), or with ``as_dicts`` a dict by column name. A record
    goes whole or not at all: every row is resolved and ``check``-ed (it fits the file) before the first is
    yielded, and a record one of whose rows fails is rejected with every row, never written in part."""
    key_field, lines_path = mapping.get("record_key"), mapping.get("lines")
    columns = flat_columns(mapping)
    names = [name for name, _spec in columns]
    of_record, of_line = compile_rows(columns, line_prefix="line." if lines_path else None)
    heading = ((mapping.get("fixed_width") or {}).get("record_header") or {}).get("columns") \
        if mapping["format"] == "fixed_width" else None
    header_resolvers = [(c["name"], compile_leaf({k: v for k, v in c.items() if k in LEAF_KEYS - {"type", "format"}},
                                                  c["name"])) for c in heading or () if set(c) & {"path", "const", "default"}]
    for index, record in enumerate(records, 1):
        try:
            own = of_record(record, index)
            if lines_path:
                lines = get_path(record, lines_path) or []
                lines = [lines] if isinstance(lines, Mapping) else list(lines)
                if not lines:
                    raise RenderError("has no lines", record=index, field=lines_path)
                rows: list[Any] = [of_line(own, line, index) for line in lines]
            else:
                rows = [of_line(own, None, index)]
            if as_dicts or gate is not None:
                dicts = [dict(zip(names, row)) for row in rows]
                if heading:  # a header/line layout: the record's own line first, then its lines
                    dicts.insert(0, {RECORD_HEADER: True, **{name: get(record, index) for name, get in header_resolvers}})
                if as_dicts:
                    rows = dicts
            if check is not None:
                for row in rows:
                    check(row, index)
        except RenderError as exc:
            result.rejected.append(_rejection(exc, index, record, key_field))
            continue
        if gate is not None:
            mark = _gate(gate, mapping, record, dicts if lines_path else dicts[0], index, result)
            if mark is False:
                continue
            if marks is not None:
                marks[index] = mark  # type: ignore[assignment]
        if position is not None:
            position.index, position.record, position.records = index, record, position.records + 1
        for row in rows:
            yield index, row


def flat_columns(mapping: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, field spec) of each column a flat file's rows carry: every CSV column; the fixed-width detail columns
    that read a value (the layout's Column types and formats it; resolving only finds it)."""
    if mapping["format"] == "csv":
        return [(c["name"], {k: v for k, v in c.items() if k in LEAF_KEYS}) for c in mapping["columns"]]
    return [(c["name"], {k: v for k, v in c.items() if k in LEAF_KEYS - {"type", "format"}})
            for c in mapping["fixed_width"]["detail"]["columns"] if set(c) & {"path", "const", "default"}]


def _render_csv(mapping, records, sink, result, gate) -> None:
    options = CsvOptions(**(mapping.get("csv") or {}))
    names = [c["name"] for c in mapping["columns"]]
    marks: dict[int, tuple[str, str]] = {}
    position = _Position(mapping.get("record_key"))

    def fits(row: tuple[Any, ...], index: int) -> None:  # a cell the encoding cannot hold: the record stays out
        for name, value in zip(names, row):
            if value.__class__ is str and not value.isascii():
                try:
                    value.encode(options.encoding)
                except UnicodeEncodeError as exc:
                    raise RenderError(f"{exc.object[exc.start:exc.end]!r} cannot be written in {options.encoding}",
                                      record=index, field=name) from None

    rows = (row for _index, row in _flat_rows(mapping, records, result, gate=gate, marks=marks, check=fits,
                                              position=position))
    write_csv(sink, names, rows, options)
    result.records = position.records  # records (bills), whatever number of rows their lines made
    for mark in marks.values():  # a CSV row is written as it is given
        gate.written(*mark)


def _layout(spec: Mapping[str, Any]) -> RecordLayout:
    cols = tuple(Column(name=c["name"], start=c["start"], width=c["width"], type=c.get("type", "text"),
                        align=c.get("align"), pad=c.get("pad"), format=c.get("format"),
                        truncate=bool(c.get("truncate", False))) for c in spec["columns"])
    return RecordLayout(cols, spec.get("length"), fields=dict(spec.get("fields") or {}))


def _render_fixed(mapping, records, sink, result, gate) -> None:
    conf = mapping["fixed_width"]
    detail = _layout(conf["detail"])
    header = _layout(conf["header"]) if "header" in conf else None
    trailer = _layout(conf["trailer"]) if "trailer" in conf else None
    record_header = _layout(conf["record_header"]) if "record_header" in conf else None
    encoding, text = conf.get("encoding", "ascii"), conf.get("text", "clean")
    marks: dict[int, tuple[str, str]] = {}
    position = _Position(mapping.get("record_key"))
    refused: set[int] = set()  # records the writer refused a row of (only those: bad records)

    # The lines of the record in hand, each with its row, so each is rendered once. Emptied when the next record is
    # checked: a record refused or passed by leaves nothing behind.
    rendered: dict[int, tuple[dict[str, Any], str]] = {}
    checking = [0]

    def fits(row: dict[str, Any], index: int) -> None:  # each line of a record fits its columns before any is written
        if checking[0] != index:
            checking[0] = index
            rendered.clear()
        line = (record_header if row.get(RECORD_HEADER) and record_header is not None else detail).render(row, index)
        rendered[id(row)] = (row, line)
        if text == "refuse":
            try:
                line.encode(encoding)
            except UnicodeEncodeError as exc:
                raise RenderError(f"{exc.object[exc.start:exc.end]!r} cannot be written in {encoding}",
                                  record=index) from None

    def rows() -> Iterator[dict[str, Any]]:
        for _index, row in _flat_rows(mapping, records, result, gate, marks, check=fits, position=position,
                                      as_dicts=True):
            yield row

    # The writer reports on the row it was just given, which belongs to the record the position is on.
    def rejected(_row: int, exc: RenderError) -> None:
        marks.pop(position.index, None)
        refused.add(position.index)
        result.rejected.append({"record": position.index, "key": position.key(), "field": exc.field,
                                "error": exc.reason})

    def adjusted(row: int | None, change: str) -> None:
        index = position.index if row else None  # no row: the file's header or trailer
        result.adjusted.append({"record": index, "key": position.key() if index else None, "field": None,
                                "change": change})

    write_fixed(sink, detail, rows(), header=header, trailer=trailer, record_header=record_header,
                sum_fields=conf.get("sums", ()),
                encoding=encoding, line_ending={"lf": "\n"}.get(conf.get("line_ending", "crlf"), "\r\n"),
                on_error=rejected, text=text, on_adjust=adjusted, rendered=rendered)
    result.records = position.records - len(refused)  # records, whatever number of lines they made
    for mark in marks.values():
        gate.written(*mark)
