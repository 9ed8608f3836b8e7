"""UN/EDIFACT interchanges: a streaming writer (UNA/UNB/UNH..UNT/UNZ) and a reader.

Data is escaped with the release character, never cleaned of service characters: ``O'HARA`` is
written ``O?'HARA``. The syntax level decides the repertoire: UNOA is upper case only (lower case
is upper-cased, or refused under the ``refuse`` policy), UNOC is ISO 8859-1 (other characters
are transliterated or refused). UNA is always written, so printable delimiters are explicit.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from mlc.formats.errors import ParseError, RenderError
from mlc.formats.text import UNOA, TextPolicy

UNOC = frozenset(chr(c) for c in range(0x20, 0x7F)) | frozenset(chr(c) for c in range(0xA0, 0x100))
UNOB = frozenset(chr(c) for c in range(0x20, 0x7F))
REPERTOIRES = {"UNOA": UNOA, "UNOB": UNOB, "UNOC": UNOC}
ENCODINGS = {"UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOW": "utf-8", "UNOY": "utf-8"}

Element = str | Sequence[str | None] | None


@dataclass(frozen=True)
class EdifactSyntax:
    """Service characters and syntax identifier of one interchange."""

    level: str = "UNOC"
    version: int = 3
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    segment: str = "'"

    def __post_init__(self) -> None:
        chars = [self.component, self.element, self.release, self.segment]
        if any(len(c) != 1 for c in chars) or len(set(chars)) != 4:
            raise ValueError(f"EDIFACT service characters must be four distinct single characters, got {chars!r}")
        if any(c.isalnum() or c == " " for c in chars):
            raise ValueError(f"EDIFACT service characters cannot be letters, digits or spaces, got {chars!r}")
        if self.decimal not in (".", ","):
            raise ValueError(f"decimal mark must be '.' or ',', got {self.decimal!r}")
        if self.level not in ENCODINGS:
            raise ValueError(f"syntax level must be one of {sorted(ENCODINGS)}, got {self.level!r}")
        # escape() by one translation table, and only when a value holds a service character at all
        object.__setattr__(self, "_service_set", frozenset(chars))
        object.__setattr__(self, "_escapes", {ord(c): self.release + c for c in chars})

    @property
    def una(self) -> str:
        return f"UNA{self.component}{self.element}{self.decimal}{self.release} {self.segment}"

    @property
    def service(self) -> str:
        return self.component + self.element + self.release + self.segment

    @property
    def service_set(self) -> frozenset[str]:
        return self._service_set  # type: ignore[attr-defined]

    @property
    def encoding(self) -> str:
        return ENCODINGS[self.level]

    def escape(self, value: str) -> str:
        """``value`` with the release character before each service character."""
        if self._service_set.isdisjoint(value):  # type: ignore[attr-defined]
            return value
        return value.translate(self._escapes)  # type: ignore[attr-defined]

    def amount(self, text: str) -> str:
        """An explicit decimal with this interchange's decimal mark."""
        return text.replace(".", self.decimal) if self.decimal != "." else text


@dataclass(frozen=True)
class EdifactParty:
    id: str
    qualifier: str = "14"  # 14 = GS1 GLN, 1 = DUNS, ZZZ = mutually defined


class EdifactWriter:
    """Write one interchange to ``out`` (binary); messages are written as they come."""

    def __init__(self, out: IO[bytes], *, sender: EdifactParty, recipient: EdifactParty, reference: str,
                 timestamp: datetime, syntax: EdifactSyntax | None = None, policy: str = "clean",
                 application: str | None = None, test: bool = False, ack_requested: bool = False,
                 line_break: bool = True) -> None:
        self.out = out
        self.syntax = syntax or EdifactSyntax()
        repertoire = REPERTOIRES.get(self.syntax.level)
        self.text = TextPolicy(policy=policy, charset=repertoire, upper=self.syntax.level == "UNOA" and policy == "clean",
                               forbidden="\r\n")
        if not reference or len(reference) > 14 or not reference.isalnum():
            raise RenderError(f"interchange reference {reference!r} must be 1-14 letters or digits", field="UNB0020")
        self.reference = reference
        # Characters a value may hold and be written as it is: the text policy's safe ones, no service character.
        safe = self.text._safe  # type: ignore[attr-defined]
        self._plain: frozenset[str] | None = None if safe is None else safe - self.syntax.service_set
        self._eol = self.syntax.segment + ("\n" if line_break else "")
        self.messages = 0
        self.bytes_written = 0
        self._emit(self.syntax.una + ("\n" if line_break else ""))
        ts = timestamp
        date = ts.strftime("%y%m%d") if self.syntax.version < 4 else ts.strftime("%Y%m%d")
        self._emit(self.format_segment("UNB", [
            [self.syntax.level, str(self.syntax.version)], [sender.id, sender.qualifier],
            [recipient.id, recipient.qualifier], [date, ts.strftime("%H%M")], reference, None, application,
            None, "1" if ack_requested else None, None, "1" if test else None]) + self._eol)

    def _emit(self, text: str) -> None:
        data = text.encode(self.syntax.encoding)
        self.out.write(data)
        self.bytes_written += len(data)

    def _value(self, value: str | None, record: int | None, name: str) -> str:
        if not value:
            return ""
        return self.syntax.escape(self.text.apply(str(value), record=record, field=name))

    def format_segment(self, tag: str, elements: Sequence[Element], *, record: int | None = None) -> str:
        fast = self._plain_segments(((tag, elements),))
        if fast is not None:
            return fast[0]
        parts = []
        for i, element in enumerate(elements, 1):
            name = f"{tag}{i:02d}"
            if element is None or isinstance(element, str):
                parts.append(self._value(element, record, name))
            else:
                comps = [self._value(c, record, name) for c in element]
                while comps and comps[-1] == "":
                    comps.pop()
                parts.append(self.syntax.component.join(comps))
        while parts and parts[-1] == "":
            parts.pop()
        return self.syntax.element.join([tag, *parts])

    def _plain_segments(self, segments: Sequence[tuple[str, Sequence[Element]]]) -> list[str] | None:
        """The segments when every value is text that needs no cleaning and no escaping (the common case), with one
        check of all their values at once, else ``None`` for the element-by-element path; the same bytes either
        way."""
        safe = self._plain
        if safe is None:
            return None
        element_sep, component_sep = self.syntax.element, self.syntax.component
        lines: list[str] = []
        values: list[str] = []
        try:
            for tag, elements in segments:
                parts: list[str] = []
                for element in elements:
                    if element is None:
                        parts.append("")
                    elif element.__class__ is str:
                        parts.append(element)
                        values.append(element)
                    elif element.__class__ is list or element.__class__ is tuple:
                        comps = ["" if comp is None else comp for comp in element]
                        while comps and comps[-1] == "":
                            comps.pop()
                        parts.append(component_sep.join(comps))
                        values += comps
                    else:
                        return None
                while parts and parts[-1] == "":
                    parts.pop()
                lines.append(element_sep.join([tag, *parts]))
            return lines if safe.issuperset("".join(values)) else None
        except TypeError:  # a component that is not text
            return None

    def write_message(self, message_type: Sequence[str], segments: Iterable[tuple[str, list[Element]]], *,
                      record: int | None = None) -> str:
        """Write UNH..UNT around ``segments``; return the message reference.

        A message is built whole before it is written, so a record that fails leaves no half-written
        message behind; past ``FLUSH_SEGMENTS`` (only an acknowledgment of a huge interchange gets there) it
        is written as it goes, so memory stays bounded.
        """
        reference = str(self.messages + 1)
        lines = [self.format_segment("UNH", [reference, list(message_type)], record=record)]
        count = 1
        pending = iter(segments)
        while chunk := list(itertools.islice(pending, FLUSH_SEGMENTS)):
            formatted = self._plain_segments(chunk)
            if formatted is None:
                formatted = [self.format_segment(tag, elements, record=record) for tag, elements in chunk]
            lines += formatted
            count += len(chunk)
            if len(lines) >= FLUSH_SEGMENTS:
                self._emit(self._eol.join(lines) + self._eol)
                lines = []
        lines.append(self.format_segment("UNT", [str(count + 1), reference]))
        self._emit(self._eol.join(lines) + self._eol)
        self.messages += 1
        return reference

    def close(self) -> None:
        self._emit(self.format_segment("UNZ", [str(self.messages), self.reference]) + self._eol)


FLUSH_SEGMENTS = 10_000


# -- reading ------------------------------------------------------------------------------------
@dataclass
class EdifactSegment:
    tag: str
    elements: list[list[str]]  # each element is its list of components (unescaped)
    index: int

    def get(self, position: int, component: int = 1, default: str = "") -> str:
        """Element by position (1-based), component (1-based)."""
        if 0 < position <= len(self.elements):
            comps = self.elements[position - 1]
            if 0 < component <= len(comps):
                return comps[component - 1]
        return default


def _level(text: str) -> str | None:
    at = text.find("UNB")
    level = text[at + 4:at + 8] if at >= 0 else ""
    return level if level in ENCODINGS else None


Source = bytes | str | IO[bytes]
CHUNK = 1 << 16
HEAD = 256  # bytes read before anything is decided: UNA (9) and the UNB's syntax identifier (in its first 200)


class EdifactSegments:
    """The segments of an EDIFACT interchange, one at a time, release characters resolved, from bytes, text
    or a binary file read 64 KiB at a time: memory stays flat in the size of the file.

    Bytes are decoded per the UNB syntax identifier; outside the declared repertoire (UTF-8 in a UNOA file
    is common) the rest is read as UTF-8, else Latin-1, and the repertoire check reports it: after reading,
    ``offenders`` says whether any character lies outside the level's repertoire.
    """

    def __init__(self, source: Source) -> None:
        self._stream = None if isinstance(source, (bytes, str)) else source
        raw = source if self._stream is None else self._read_head()
        if isinstance(raw, bytes):
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, whatever the declared level
            level = _level(raw[:200].decode("latin-1"))
            self._encoding = ENCODINGS[level] if level else "latin-1"
            self._decoder = codecs.getincrementaldecoder(self._encoding)()
            text = self._decode(raw, final=self._stream is None)
        else:
            self._decoder, text = None, raw
        text = text.lstrip("\ufeff\r\n ")
        if text.startswith("UNA"):
            if len(text) < 9:
                raise ParseError("UNA service string advice is shorter than 9 characters", offset=0)
            una = text[3:9]
            try:
                self.syntax = EdifactSyntax(component=una[0], element=una[1], decimal=una[2], release=una[3],
                                            segment=una[5], level=_level(text) or "UNOC")
            except ValueError as exc:
                raise ParseError(f"UNA is invalid: {exc}", offset=0) from None
            text = text[9:].lstrip("\r\n")
        elif text.startswith("UNB"):
            self.syntax = EdifactSyntax(level=_level(text) or "UNOA")
        else:
            raise ParseError("not an EDIFACT interchange: it must start with UNA or UNB", offset=0)
        self._head = text
        self.offenders = False

    def _read_head(self) -> bytes:
        """The first bytes, enough for the UNA and the UNB's syntax identifier."""
        data = self._stream.read(CHUNK)  # type: ignore[union-attr]
        while len(data) < HEAD and (more := self._stream.read(CHUNK)):  # type: ignore[union-attr]
            data += more
        return data

    def _decode(self, raw: bytes, final: bool) -> str:
        try:
            return self._decoder.decode(raw, final)  # type: ignore[union-attr]
        except UnicodeDecodeError:
            pending = self._decoder.getstate()[0]  # type: ignore[union-attr]
            self._encoding = "utf-8" if self._encoding not in ("utf-8", "latin-1") else "latin-1"
            self._decoder = codecs.getincrementaldecoder(self._encoding)()
            return self._decode(pending + raw, final)

    def texts(self) -> Iterator[str]:
        """The interchange's text after the UNA, chunk by chunk."""
        yield self._head
        while self._stream is not None and (raw := self._stream.read(CHUNK)):
            yield self._decode(raw, final=False)
        if self._stream is not None and self._decoder is not None:
            yield self._decode(b"", final=True)

    def __iter__(self) -> Iterator[EdifactSegment]:
        syntax = self.syntax
        rel, seg_t, el_t, comp_t = syntax.release, syntax.segment, syntax.element, syntax.component
        allowed = REPERTOIRES.get(syntax.level)
        allowed = allowed | set(syntax.service) | {"\r", "\n"} if allowed is not None else None
        elements: list[list[str]] = []
        comps: list[str] = []
        buf: list[str] = []
        index, offset, released, skip_newlines = 0, 0, False, False
        for text in self.texts():
            if allowed is not None and not self.offenders and not set(text) <= allowed:
                self.offenders = True
            for ch in text:
                offset += 1
                if skip_newlines:
                    if ch in "\r\n":
                        continue
                    skip_newlines = False
                if released:
                    buf.append(ch)
                    released = False
                elif ch == rel:
                    released = True
                elif ch == comp_t:
                    comps.append("".join(buf))
                    buf = []
                elif ch == el_t:
                    comps.append("".join(buf))
                    elements.append(comps)
                    comps, buf = [], []
                elif ch == seg_t:
                    comps.append("".join(buf))
                    elements.append(comps)
                    tag = elements[0][0].strip("\r\n ")
                    index += 1
                    if not tag:
                        raise ParseError("empty segment", segment=index)
                    yield EdifactSegment(tag, elements[1:], index)
                    elements, comps, buf = [], [], []
                    skip_newlines = True
                else:
                    buf.append(ch)
        if released:
            raise ParseError("release character at the end of the data", offset=offset - 1)
        if "".join(buf).strip() or comps or elements:
            raise ParseError("the last segment has no terminator", segment=index + 1)


def iter_segments(data: Source) -> Iterator[EdifactSegment]:
    """Yield the segments of an interchange, with release characters resolved."""
    return iter(EdifactSegments(data))


__all__ = ["EdifactParty", "EdifactSegment", "EdifactSegments", "EdifactSyntax", "EdifactWriter", "iter_segments"]
