"""CONTRL syntax and service reports: generated for an EDIFACT interchange we receive (one per
interchange; accept = action 7, reject = action 4 with UCI/UCM/UCS/UCD error codes), and read
when a partner sends one back. CONTRLs themselves are never acknowledged.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from mlc.formats.edifact import (
    REPERTOIRES,
    EdifactParty,
    EdifactSegment,
    EdifactSegments,
    EdifactSyntax,
    EdifactWriter,
    Source,
    iter_segments,
)
from mlc.formats.errors import ParseError

ACTIONS = {"4": "rejected", "7": "acknowledged", "8": "received", "1": "acknowledged", "2": "acknowledged with errors",
           "3": "one or more rejected", "5": "UNB/UNZ accepted", "6": "UNB/UNZ rejected"}
SYNTAX_ERRORS = {"2": "syntax version or level not supported", "7": "interchange recipient not actual recipient",
                 "12": "invalid value", "13": "missing", "14": "value not supported in this position",
                 "15": "not supported in this position", "16": "too many constituents", "17": "no agreement",
                 "18": "unspecified error", "20": "character invalid as service character",
                 "21": "invalid character(s)", "22": "invalid service character(s)", "23": "unknown interchange sender",
                 "24": "too old", "25": "test indicator not supported", "26": "duplicate detected",
                 "28": "references do not match", "29": "control count does not match",
                 "30": "functional groups and messages mixed", "32": "lower level empty",
                 "33": "invalid occurrence outside message", "35": "too many repetitions",
                 "36": "too many segment group repetitions", "37": "invalid type of character(s)",
                 "39": "data element too long", "40": "data element too short"}
MANDATORY = {"INVOIC": ("BGM", "DTM", "UNS", "MOA")}
_NUMERIC = re.compile(r"^-?(\d+([.,]\d*)?|[.,]\d+)$")
# tag -> [(element position, component position, kind, max length)]
ELEMENT_RULES = {"DTM": [(1, 2, "date", 35)], "QTY": [(1, 2, "n", 35)], "MOA": [(1, 2, "n", 35)],
                 "PRI": [(1, 2, "n", 15)], "NAD": [(1, 1, "an", 3)], "BGM": [(2, 1, "an", 35)],
                 "CNT": [(1, 2, "n", 18)], "LIN": [(1, 1, "n", 6)]}


@dataclass(slots=True)
class MessageResult:
    reference: str
    identifier: list[str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (0085, 0013 tag) at message level
    segments: list[tuple[int, str, list[tuple[int, int, str]]]] = field(default_factory=list)
    #: for each position in ``segments``: the segment's tag, its number in the file (as ``mlc inspect`` numbers
    #: segments; 0 for one that is missing) and the values of its elements in error, by (element, component)
    found: dict[int, tuple[str, int, dict[tuple[int, int], str]]] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        return bool(self.errors or self.segments)

    def compact(self) -> MessageResult:
        """An accepted message (the common case) keeps no lists: a file of many messages stays small."""
        self.errors = self.errors or NO_ERRORS  # type: ignore[assignment]
        self.segments = self.segments or NO_ERRORS  # type: ignore[assignment]
        return self


NO_ERRORS: tuple = ()


@dataclass
class InterchangeCheck:
    """One interchange's verdict. ``messages`` holds each message's verdict unless the caller takes them as they
    come (``on_message``); ``received`` and ``rejected`` count them either way."""

    reference: str
    sender: list[str]
    recipient: list[str]
    syntax: EdifactSyntax
    errors: list[tuple[str, str]] = field(default_factory=list)  # (0085, 0013)
    received: int = 0
    rejected: int = 0
    contrl: bool = False  # it carries a CONTRL: acknowledgments are never acknowledged
    messages: list[MessageResult] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and not any(m.rejected for m in self.messages)


def _is_ccyymmdd(value: str) -> bool:
    """Format 102 is CCYYMMDD; real files append a time (12 digits): accept that, refuse non-dates."""
    if not value.isdigit() or len(value) not in (8, 12, 14):
        return False
    try:
        datetime.strptime(value[:8], "%Y%m%d")
    except ValueError:
        return False
    return True


def _element_errors(seg: EdifactSegment, decimal: str) -> list[tuple[int, int, str]]:
    errors = []
    for position, component, kind, max_len in ELEMENT_RULES.get(seg.tag, ()):
        value = seg.get(position, component)
        if value == "":
            if kind == "an" or (seg.tag == "DTM"):
                errors.append((position, component, "13"))
            continue
        if len(value) > max_len:
            errors.append((position, component, "39"))
        elif kind == "n" and not _NUMERIC.match(value):
            errors.append((position, component, "12"))
        elif kind == "date" and seg.get(1, 3) == "102" and not _is_ccyymmdd(value):
            errors.append((position, component, "12"))
    return errors


def check_edifact(data: Source, *, on_start: Callable[[InterchangeCheck], None] | None = None,
                  on_message: Callable[[MessageResult], None] | None = None) -> InterchangeCheck:
    """Check one EDIFACT interchange; raise :class:`ParseError` only when it cannot be read at all.

    ``data`` may be an open binary file, read a chunk at a time. With ``on_message``, each message's verdict
    goes to it as the message ends and is not kept, so memory stays flat in the number of messages;
    ``on_start`` sees the interchange once its UNB is read.
    """
    reader = EdifactSegments(data)
    segments = iter(reader)
    unb = next(segments, None)
    if unb is None or unb.tag != "UNB":
        raise ParseError("the interchange must start with UNB (after an optional UNA)", segment=1)
    result = InterchangeCheck(unb.get(5), unb.elements[1] if len(unb.elements) > 1 else [],
                              unb.elements[2] if len(unb.elements) > 2 else [], reader.syntax)
    level = unb.get(1, 1)
    if level not in REPERTOIRES and level not in ("UNOW", "UNOY"):
        result.errors.append(("2", "UNB"))
    repertoire_at = len(result.errors)  # known once the whole interchange is read
    if on_start is not None:
        on_start(result)
    current: MessageResult | None = None
    body: list[EdifactSegment] = []
    unz: EdifactSegment | None = None

    def close(message: MessageResult) -> None:
        result.received += 1
        result.rejected += message.rejected
        result.contrl = result.contrl or message.identifier[:1] == ["CONTRL"]
        if on_message is not None:
            on_message(message)
        else:
            result.messages.append(message.compact())

    for seg in segments:
        if seg.tag == "UNH":
            if current is not None:
                current.errors.append(("13", "UNT"))
                close(current)
            current, body = MessageResult(seg.get(1), seg.elements[1] if len(seg.elements) > 1 else []), []
        elif seg.tag == "UNT":
            if current is None:
                result.errors.append(("33", "UNT"))
                continue
            if seg.get(2) != current.reference:
                current.errors.append(("28", "UNT"))
            if seg.get(1) != str(len(body) + 2):
                current.errors.append(("29", "UNT"))
            _check_body(current, body, reader.syntax.decimal)
            close(current)
            current = None
        elif seg.tag == "UNZ":
            unz = seg
        elif current is not None:
            body.append(seg)
        else:
            result.errors.append(("33", seg.tag[:3]))
    if current is not None:
        current.errors.append(("13", "UNT"))
        close(current)
    if reader.offenders and level in REPERTOIRES and not result.errors[:repertoire_at]:
        result.errors.insert(repertoire_at, ("21", "UNB"))
    if unz is None:
        result.errors.append(("13", "UNZ"))
    else:
        if unz.get(2) != result.reference:
            result.errors.append(("28", "UNZ"))
        if unz.get(1) != str(result.received):
            result.errors.append(("29", "UNZ"))
    return result


def _check_body(message: MessageResult, body: list[EdifactSegment], decimal: str) -> None:
    kind = message.identifier[0] if message.identifier else ""
    seen: dict[str, int] = {}
    for position, seg in enumerate(body, 2):
        seen[seg.tag] = seen.get(seg.tag, 0) + 1
        if seg.tag == "UNS" and seen["UNS"] > 1:
            message.segments.append((position, "35", NO_ERRORS))
            message.found[position] = (seg.tag, seg.index, {})
            continue
        if errors := _element_errors(seg, decimal):
            message.segments.append((position, "12", errors))
            message.found[position] = (seg.tag, seg.index, {(p, c): seg.get(p, c) for p, c, _e in errors})
    for tag in MANDATORY.get(kind, ()):
        if tag not in seen:
            message.segments.append((len(body) + 2, "13", NO_ERRORS))
            message.found.setdefault(len(body) + 2, (tag, 0, {}))


@dataclass(frozen=True)
class ContrlEnvelope:
    reference: str
    timestamp: datetime


def _message_segments(message: MessageResult) -> Iterator[tuple[str, list[Any]]]:
    """What a CONTRL says about one rejected message: UCM, then UCS / UCD for its segment and element errors."""
    m_error, m_tag = message.errors[0] if message.errors else (None, None)
    yield "UCM", [message.reference, message.identifier[:5], "4", m_error, m_tag]
    for position, code, elements in message.segments:
        yield "UCS", [str(position), code if not elements else None]
        for el_pos, comp_pos, el_code in elements:
            yield "UCD", [el_code, [str(el_pos), str(comp_pos)]]


def write_contrl(data: Source, envelope: ContrlEnvelope | Callable[[InterchangeCheck], ContrlEnvelope],
                 out: IO[bytes]) -> bool:
    """Write the CONTRL interchange for ``data`` to ``out``; return False for a CONTRL (never acknowledged).

    The rejected messages' UCM groups are kept in a temporary file while the interchange is checked (an open
    binary file is read a chunk at a time), so memory stays flat whatever its size; the UCI, which says how
    the whole interchange fared, is written first once that is known. ``envelope`` may be a function of the
    interchange (its parties are known once its UNB is read).
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        def take(message: MessageResult) -> None:
            if message.rejected:
                spool.writelines(json.dumps(segment) + "\n" for segment in _message_segments(message))

        envelopes: list[ContrlEnvelope] = []
        check = check_edifact(data, on_start=lambda c: envelopes.append(envelope(c) if callable(envelope) else envelope),
                              on_message=take)
        if check.contrl:
            return False

        def party(ids: list[str]) -> EdifactParty:
            if not ids or not ids[0]:
                raise ParseError("UNB names no sender or recipient: nothing to address a CONTRL to", segment=1)
            return EdifactParty(ids[0], ids[1] if len(ids) > 1 else "")

        sender, recipient = party(check.sender), party(check.recipient)
        syntax = EdifactSyntax(level="UNOC" if check.syntax.level != "UNOA" else "UNOA")
        # The CONTRL's own UNB swaps the parties; its UCI copies the subject's parties as they were.
        writer = EdifactWriter(out, sender=recipient, recipient=sender, reference=envelopes[0].reference,
                               timestamp=envelopes[0].timestamp, syntax=syntax)
        error, tag = check.errors[0] if check.errors else (None, None)
        uci = ("UCI", [check.reference, check.sender[:3], check.recipient[:3], "4" if check.errors else "7", error,
                       tag])
        spool.seek(0)
        writer.write_message(("CONTRL", "D", "3", "UN"), itertools.chain(
            [uci], (tuple(json.loads(line)) for line in spool)))  # type: ignore[arg-type]
        writer.close()
    return True


def build_contrl(data: Source, envelope: ContrlEnvelope) -> bytes | None:
    """The CONTRL for ``data`` as bytes, or ``None`` for a CONTRL (never acknowledged)."""
    out = io.BytesIO()
    return out.getvalue() if write_contrl(data, envelope, out) else None


def read_contrl(data: bytes | str) -> dict[str, Any]:
    """Read a received CONTRL interchange into plain data; ``problems`` lists action codes (0083) outside
    their code list."""
    segments = iter_segments(data)
    unb = next(segments, None)
    if unb is None or unb.tag != "UNB":
        raise ParseError("the interchange must start with UNB (after an optional UNA)", segment=1)
    report: dict[str, Any] = {"standard": "EDIFACT", "interchange_control_number": unb.get(5),
                              "sender": unb.get(2), "receiver": unb.get(3), "interchange_acks": [], "group_acks": [],
                              "problems": []}
    ack: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    segment: dict[str, Any] | None = None
    for seg in segments:
        if seg.tag == "UNH" and seg.get(2) != "CONTRL":
            raise ParseError(f"message {seg.get(1)} is {seg.get(2)!r}, not a CONTRL", segment=seg.index)
        if seg.tag == "UCI":
            ack = {"control_number": seg.get(1), "sender": seg.get(2), "recipient": seg.get(3),
                   "action": seg.get(4), "action_text": ACTIONS.get(seg.get(4), "unknown action"),
                   "error": _error(seg.get(5)), "segment": seg.get(6) or None, "messages": []}
            report["interchange_acks"].append(ack)
            if seg.get(4) not in ACTIONS:
                report["problems"].append(f"segment {seg.index}: UCI04 {seg.get(4)!r} is not an action code (0083)")
        elif seg.tag in ("UCM", "UCS", "UCD") and ack is None:
            raise ParseError(f"{seg.tag} before UCI", segment=seg.index)
        elif seg.tag == "UCM":
            message = {"reference": seg.get(1), "type": ":".join(c for c in seg.elements[1] if c) if len(
                seg.elements) > 1 else "", "action": seg.get(3), "action_text": ACTIONS.get(seg.get(3), "unknown action"),
                       "error": _error(seg.get(4)), "segment": seg.get(5) or None, "segment_errors": []}
            ack["messages"].append(message)  # type: ignore[index]
            if seg.get(3) not in ACTIONS:
                report["problems"].append(f"segment {seg.index}: UCM03 {seg.get(3)!r} is not an action code (0083)")
        elif seg.tag == "UCS":
            if message is None:
                raise ParseError("UCS outside a UCM group", segment=seg.index)
            segment = {"position": seg.get(1), "error": _error(seg.get(2)), "elements": []}
            message["segment_errors"].append(segment)
        elif seg.tag == "UCD":
            if segment is None:
                raise ParseError("UCD outside a UCS group", segment=seg.index)
            segment["elements"].append({"position": seg.get(2, 1), "component": seg.get(2, 2) or None,
                                        "error": _error(seg.get(1))})
    if not report["interchange_acks"]:
        raise ParseError("no CONTRL (UCI) in this interchange")
    return report


def _error(code: str) -> dict[str, str] | None:
    return {"code": code, "text": SYNTAX_ERRORS.get(code, "unknown code")} if code else None
