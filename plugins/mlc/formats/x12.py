"""X12 interchanges: a streaming writer (ISA/GS/ST..SE/GE/IEA) and a reader.

The writer takes transaction sets one at a time and writes each as it comes, so memory stays flat
in the number of sets. Counts (SE01, GE01, IEA01) and control numbers (ISA13 = IEA02, GS06 =
GE02, ST02 = SE02) are kept by the writer, never by the caller. Every element passes through a
:class:`mlc.formats.text.TextPolicy` built from the separators in use, so no separator is ever
written inside data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from mlc.formats.errors import ParseError, RenderError
from mlc.formats.text import X12_EXTENDED, TextPolicy

# GS01 functional identifier per transaction set (X12 code list 479).
FUNCTIONAL_IDS = {"810": "IN", "820": "RA", "850": "PO", "855": "PR", "856": "SH", "997": "FA", "999": "FA",
                  "824": "AG", "812": "CD", "816": "OR", "838": "TD"}
ISA_LENGTH = 106

Element = str | Sequence[str] | None
SegmentData = Sequence[Element]


@dataclass(frozen=True)
class X12Separators:
    """The delimiters of one interchange; all distinct, none alphanumeric or a space."""

    element: str = "*"
    component: str = ">"
    segment: str = "~"
    repetition: str = "^"

    def __post_init__(self) -> None:
        chars = [self.element, self.component, self.segment, self.repetition]
        if any(len(c) != 1 for c in chars):
            raise ValueError(f"X12 separators must be single characters, got {chars!r}")
        if len(set(chars)) != 4:
            raise ValueError(f"X12 separators must be distinct, got {chars!r}")
        if any(c.isalnum() or c == " " for c in chars):
            raise ValueError(f"X12 separators cannot be letters, digits or spaces, got {chars!r}")

    @property
    def all(self) -> str:
        return self.element + self.component + self.segment + self.repetition


@dataclass(frozen=True)
class Party:
    """An interchange or group party: ISA qualifier + id (ISA05/06, 07/08) and GS id (GS02/03)."""

    qualifier: str
    id: str
    gs_id: str | None = None

    @property
    def group_id(self) -> str:
        return self.gs_id or self.id


def fixed(value: str, width: int, name: str) -> str:
    """Left-justify ``value`` in ``width`` characters (ISA fields are fixed width)."""
    if len(value) > width:
        raise RenderError(f"{value!r} is longer than {width} characters", field=name)
    return value.ljust(width)


class X12Writer:
    """Write one interchange to ``out`` (binary), one functional group at a time.

    :param version: ISA12, ``00401`` (default) or ``00501``; GS08 follows (``004010`` / ``005010``)
        unless ``gs_version`` says otherwise.
    :param text: the element text policy; its ``forbidden`` characters are extended with the
        separators, so callers never need to repeat them.
    """

    def __init__(
        self,
        out: IO[bytes],
        *,
        sender: Party,
        receiver: Party,
        control_number: int,
        timestamp: datetime,
        version: str = "00401",
        gs_version: str | None = None,
        usage: str = "P",
        ack_requested: bool = False,
        separators: X12Separators | None = None,
        text: TextPolicy | None = None,
        line_break: bool = True,
    ) -> None:
        if version not in ("00401", "00501"):
            raise RenderError(f"ISA12 version must be 00401 or 00501, not {version!r}", field="ISA12")
        if not 0 < control_number < 10**9:
            raise RenderError(f"ISA13 control number {control_number} is not 1..999999999", field="ISA13")
        if usage not in ("P", "T"):
            raise RenderError(f"ISA15 usage must be P or T, not {usage!r}", field="ISA15")
        self.out = out
        self.sep = separators or X12Separators()
        base = text or TextPolicy(charset=X12_EXTENDED)
        self.text = TextPolicy(policy=base.policy, forbidden=base.forbidden + self.sep.all,
                               charset=base.charset if base.charset is not None else X12_EXTENDED,
                               upper=base.upper, replacement=base.replacement)
        self.version = version
        self.gs_version = gs_version or ("004010" if version == "00401" else "005010")
        self.sender, self.receiver = sender, receiver
        self.control_number = control_number
        self.timestamp = timestamp
        self._eol = self.sep.segment + ("\n" if line_break else "")
        self._groups = 0
        self._group: dict | None = None
        self.bytes_written = 0
        self._write_isa(usage, ack_requested)

    # -- low level ---------------------------------------------------------------------------
    def _emit(self, line: str) -> None:
        data = line.encode("ascii")
        self.out.write(data)
        self.bytes_written += len(data)

    def _element(self, value: Element, *, record: int | None, name: str) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return self.text.apply(value, record=record, field=name)
        return self.sep.component.join(self.text.apply(v or "", record=record, field=name) for v in value)

    def format_segment(self, tag: str, elements: SegmentData, *, record: int | None = None) -> str:
        """Serialise one segment (without terminator); trailing empty elements are dropped."""
        values = ["" if v is None else v for v in elements]
        try:
            flat = "".join(values)  # one charset check for the whole segment: the common case
        except TypeError:  # a composite element (or a non-string): element by element
            flat = None
        if flat is None or not self.text.is_clean(flat):
            values = [self._element(v, record=record, name=f"{tag}{i:02d}") for i, v in enumerate(elements, 1)]
        while values and values[-1] == "":
            values.pop()
        return self.sep.element.join([tag, *values])

    def _plain_set(self, segments: list[tuple[str, SegmentData]]) -> list[str] | None:
        """The set's segments when every value is plain text the policy lets through as it is (one check of all
        of them at once), else ``None``: the same text :meth:`format_segment` would give, for less work."""
        element, lines, values = self.sep.element, [], []
        for tag, elements in segments:
            texts = ["" if v is None else v for v in elements]
            while texts and texts[-1] == "":
                texts.pop()
            values += texts
            try:
                lines.append(element.join([tag, *texts]))
            except TypeError:  # a composite element (a list) or a value that is not text
                return None
        return lines if self.text.is_clean("".join(values)) else None

    # -- envelope ------------------------------------------------------------------------------
    def _write_isa(self, usage: str, ack_requested: bool) -> None:
        ts = self.timestamp
        isa11 = "U" if self.version == "00401" else self.sep.repetition
        fields = [
            "ISA", "00", " " * 10, "00", " " * 10,
            fixed(self.sender.qualifier, 2, "ISA05"), fixed(self.sender.id, 15, "ISA06"),
            fixed(self.receiver.qualifier, 2, "ISA07"), fixed(self.receiver.id, 15, "ISA08"),
            ts.strftime("%y%m%d"), ts.strftime("%H%M"), isa11, self.version,
            f"{self.control_number:09d}", "1" if ack_requested else "0", usage, self.sep.component,
        ]
        for name, value in zip(("ISA06", "ISA08"), (self.sender.id, self.receiver.id)):
            if any(c in self.sep.all for c in value) or not value.strip():
                raise RenderError(f"interchange id {value!r} is empty or holds a separator", field=name)
        isa = self.sep.element.join(fields) + self.sep.segment
        assert len(isa) == ISA_LENGTH, f"ISA is {len(isa)} characters"
        self._emit(isa + self._eol[1:])

    def write_ta1(self, control_number: str, date: str, time: str, status: str, note: str) -> None:
        """An interchange acknowledgment (TA1) for a received ISA13 of ``date``/``time`` (ISA09/ISA10): ``status``
        A, E or R, ``note`` the TA105 code. It stands between ISA and the first GS."""
        if self._groups or self._group is not None:
            raise RenderError("a TA1 comes before the first functional group")
        self._emit(self.format_segment("TA1", [control_number, date, time, status, note]) + self._eol)

    def begin_group(self, functional_id: str, control_number: int) -> None:
        """Open a functional group (GS); ``functional_id`` is GS01 (``IN`` for 810 ...)."""
        if self._group is not None:
            raise RenderError("a functional group is already open")
        ts = self.timestamp
        self._emit(self.format_segment("GS", [
            functional_id, self.sender.group_id, self.receiver.group_id, ts.strftime("%Y%m%d"),
            ts.strftime("%H%M"), str(control_number), "X", self.gs_version]) + self._eol)
        self._group = {"id": functional_id, "control": control_number, "sets": 0, "st02": set()}

    def write_set(self, set_id: str, segments: Iterable[tuple[str, SegmentData]], *,
                  record: int | None = None, control: str | None = None) -> str:
        """Write one transaction set ST..SE around ``segments`` (tag, elements); return its ST02."""
        group = self._group
        if group is None:
            raise RenderError("write_set outside a functional group")
        expected = FUNCTIONAL_IDS.get(set_id)
        if expected and expected != group["id"]:
            raise RenderError(f"transaction set {set_id} belongs in a GS*{expected} group, not GS*{group['id']}")
        st02 = control or f"{group['sets'] + 1:04d}"
        if st02 in group["st02"] or (control is not None and self._taken(control)):
            raise RenderError(f"ST02 {st02} is not unique in its group", record=record)
        # Build the whole set before writing: a record that fails leaves no half-written set behind.
        segments = list(segments)
        lines = self._plain_set(segments)
        if lines is None:  # a value to clean, refuse or a composite: segment by segment, element by element
            lines = [self.format_segment(tag, elements, record=record) for tag, elements in segments]
        lines.insert(0, self.format_segment("ST", [set_id, st02], record=record))
        lines.append(self.format_segment("SE", [str(len(lines) + 1), st02], record=record))
        self._emit(self._eol.join(lines) + self._eol)
        group["sets"] += 1
        if control is not None:
            group["st02"].add(st02)
        return st02

    def _taken(self, st02: str) -> bool:
        """Whether a caller's own ST02 may be one this writer gave: the sets' ordinals, which it does not keep one
        by one (memory stays flat in the number of sets; only ST02s given by callers are kept)."""
        sets = self._group["sets"]  # type: ignore[index]
        return st02.isdigit() and st02 == f"{int(st02):04d}" and 0 < int(st02) <= sets

    def open_set(self, set_id: str) -> str:
        """Begin a transaction set to be written a segment at a time (:meth:`add_segment`, :meth:`close_set`):
        for an acknowledgment built while its subject is read, which can be any size. Return its ST02."""
        group = self._group
        if group is None:
            raise RenderError("open_set outside a functional group")
        st02 = f"{group['sets'] + 1:04d}"
        self._emit(self.format_segment("ST", [set_id, st02]) + self._eol)
        group["open"] = [st02, 1]
        return st02

    def add_segment(self, tag: str, elements: SegmentData) -> None:
        self._emit(self.format_segment(tag, elements) + self._eol)
        self._group["open"][1] += 1  # type: ignore[index]

    def close_set(self) -> None:
        st02, count = self._group.pop("open")  # type: ignore[union-attr]
        self._emit(self.format_segment("SE", [str(count + 1), st02]) + self._eol)
        self._group["sets"] += 1  # type: ignore[index]

    def end_group(self) -> int:
        """Close the open group (GE); return the number of sets it held."""
        group = self._group
        if group is None:
            raise RenderError("no functional group is open")
        self._emit(self.format_segment("GE", [str(group["sets"]), str(group["control"])]) + self._eol)
        self._groups += 1
        self._group = None
        return group["sets"]

    def close(self) -> None:
        """Close the interchange (IEA)."""
        if self._group is not None:
            self.end_group()
        self._emit(self.format_segment("IEA", [str(self._groups), f"{self.control_number:09d}"]) + self._eol)


# -- reading ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Segment:
    tag: str
    elements: list[str]
    index: int  # 1-based position in the file

    def get(self, position: int, default: str = "") -> str:
        """Element by X12 position (1-based); ``default`` when absent."""
        return self.elements[position - 1] if 0 < position <= len(self.elements) else default


def detect_separators(text: str) -> X12Separators:
    """Read the separators from the fixed positions of the ISA segment."""
    start = text.find("ISA")
    if start < 0:
        raise ParseError("no ISA segment: not an X12 interchange", offset=0)
    if text[:start].strip():
        raise ParseError("data before the ISA segment", offset=0)
    isa = text[start:start + ISA_LENGTH]
    if len(isa) < ISA_LENGTH:
        raise ParseError(f"ISA segment is {len(isa)} characters, 106 expected", segment=1)
    element, repetition, component, terminator = isa[3], isa[82], isa[104], isa[105]
    if isa.count(element) != 16:
        raise ParseError(f"ISA must have 16 elements separated by {element!r} in 106 characters", segment=1)
    try:
        return X12Separators(element=element, component=component, segment=terminator,
                             repetition=repetition if not repetition.isalnum() else "\x1e")
    except ValueError as exc:
        raise ParseError(f"ISA separators are invalid: {exc}", segment=1) from None


def _text(data: bytes | str) -> str:
    """The interchange as text: bytes as Latin-1 (one character per byte), a UTF-8 byte-order mark skipped."""
    return data.removeprefix(b"\xef\xbb\xbf").decode("latin-1") if isinstance(data, bytes) else data


Source = bytes | str | IO[bytes]
CHUNK = 1 << 16


class X12Segments:
    """The segments of an X12 interchange, one at a time, from bytes, text or a binary file read in 1 MiB
    chunks: memory stays flat in the size of the file. ``separators`` are read from the ISA at once."""

    def __init__(self, source: Source) -> None:
        self._stream = source if not isinstance(source, (bytes, str)) else None
        head = _text(source) if self._stream is None else self._read_head()
        self._head = head.lstrip("\r\n\ufeff")
        self.separators = detect_separators(self._head)

    def _read_head(self) -> str:
        data = self._stream.read(CHUNK)  # type: ignore[union-attr]
        while len(data) < ISA_LENGTH + 8 and (more := self._stream.read(CHUNK)):  # type: ignore[union-attr]
            data += more
        return _text(data)

    def _texts(self) -> Iterator[str]:
        yield self._head
        while self._stream is not None and (chunk := self._stream.read(CHUNK)):
            yield chunk.decode("latin-1")

    def __iter__(self) -> Iterator[Segment]:
        terminator, element = self.separators.segment, self.separators.element
        index, tail = 0, ""
        for text in self._texts():
            parts = (tail + text).split(terminator)
            tail = parts.pop()  # what follows the last terminator: the start of a segment still coming
            for raw in parts:
                raw = raw.strip("\r\n")
                if raw:
                    index += 1
                    fields = raw.split(element)
                    yield Segment(fields[0], fields[1:], index)
        if tail.strip("\r\n"):
            fields = tail.strip("\r\n").split(element)
            yield Segment(fields[0], fields[1:], index + 1)


def iter_segments(data: Source) -> Iterator[Segment]:
    """Yield the segments of an X12 interchange one at a time (CR/LF after terminators are ignored)."""
    return iter(X12Segments(data))
