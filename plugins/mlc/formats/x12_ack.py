"""997 Functional Acknowledgments: generated for an X12 interchange we receive, read when a
partner sends one back. Also reads TA1 interchange acknowledgments.

One 997 set per acknowledged functional group (AK1 = GS01 + GS06), one AK2/AK5 pair per set,
AK3/AK4 for segment and element errors, AK9 for the group. 997s are never acknowledged. The
997 interchange swaps the parties of the one it acknowledges and carries its own control numbers.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from mlc.formats.errors import ParseError
from mlc.formats.x12 import Party, Segment, Source, X12Separators, X12Writer, iter_segments
from mlc.formats.x12_check import GroupResult, InterchangeResult, SetResult, check_interchange

# Plain-English texts for the codes a 997 carries (X12 elements 715-718, 720, 723).
GROUP_STATUS = {"A": "accepted", "E": "accepted with errors", "P": "partially accepted", "R": "rejected",
                "M": "rejected, message authentication failed", "W": "rejected, assurance failed",
                "X": "rejected, content could not be analysed"}
SET_STATUS = {"A": "accepted", "E": "accepted with errors", "R": "rejected", "M": "rejected, authentication",
              "W": "rejected, assurance", "X": "rejected, content could not be analysed"}
GROUP_ERRORS = {"1": "functional group not supported", "2": "functional group version not supported",
                "3": "functional group trailer missing", "4": "GS06 and GE02 do not match",
                "5": "number of included sets does not match GE01", "6": "group control number violates syntax",
                "19": "group control number not unique within the interchange"}
SET_ERRORS = {"1": "transaction set not supported", "2": "transaction set trailer missing",
              "3": "ST02 and SE02 do not match", "4": "number of included segments does not match SE01",
              "5": "one or more segments in error", "6": "missing or invalid transaction set identifier",
              "7": "missing or invalid transaction set control number",
              "23": "transaction set control number not unique within the group"}
SEGMENT_ERRORS = {"1": "unrecognized segment ID", "2": "unexpected segment", "3": "mandatory segment missing",
                  "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
                  "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
                  "8": "segment has data element errors"}
ELEMENT_ERRORS = {"1": "mandatory data element missing", "2": "conditional required data element missing",
                  "3": "too many data elements", "4": "data element too short", "5": "data element too long",
                  "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date",
                  "9": "invalid time", "10": "exclusion condition violated", "12": "too many repetitions",
                  "13": "too many components"}


# The code lists a received acknowledgment's codes must come from (4010 and 5010; 5010's I-codes included).
CODE_LISTS: dict[str, tuple[str, frozenset[str]]] = {
    "TA104": ("interchange acknowledgment code (I17)", frozenset("AER")),
    "TA105": ("interchange note code (I18)", frozenset(f"{n:03d}" for n in range(0, 40))),
    "AK304": ("segment syntax error code (720)", frozenset({*map(str, range(1, 9)), "I4", "I6", "I7", "I8", "I9"})),
    "AK403": ("element syntax error code (723)",
              frozenset({*map(str, range(1, 14)), "I6", "I9", "I10", "I11", "I12", "I13"})),
    "AK501": ("transaction set acknowledgment code (717)", frozenset("AEMRWX")),
    "AK502": ("transaction set syntax error code (718)", frozenset({*map(str, range(1, 28)), "I5", "I6"})),
    "AK901": ("functional group acknowledge code (715)", frozenset("AEMPRWX")),
    "AK905": ("functional group syntax error code (716)", frozenset(map(str, range(1, 27)))),
}


def _off_list(seg_index: int, element: str, values: list[str]) -> list[str]:
    """What in ``values`` (element ``element`` and the repeats after it) is outside the element's code list."""
    name, codes = CODE_LISTS[element]
    return [f"segment {seg_index}: {element} {value!r} is not a {name}" for value in values if value not in codes]


@dataclass(frozen=True)
class AckEnvelope:
    """Our side of the 997's envelope: its own ISA13 and GS06 and when it was made."""

    control_number: int
    group_control_number: int
    timestamp: datetime
    usage: str = "P"
    separators: X12Separators | None = None


def set_segments(result: SetResult, version_5010: bool) -> Iterator[tuple[str, list[Any]]]:
    """The AK2 loop of a 997 for one received set: AK2, its AK3/AK4 errors, AK5."""
    yield "AK2", [result.st01, result.st02, result.st03 if version_5010 and result.st03 else None]
    for seg in result.segments:
        yield "AK3", [seg.tag, str(seg.position), None, seg.code]
        for el in seg.elements:
            yield "AK4", [str(el.position), str(el.reference) if el.reference else None, el.code, el.data or None]
    yield "AK5", [result.status, *result.codes[:5]]


def group_trailer(group: GroupResult) -> tuple[str, list[Any]]:
    """AK9: the group's verdict and counts."""
    return "AK9", [group.status, str(group.declared if group.declared is not None else group.received),
                   str(group.received), str(group.accepted), *group.codes[:5]]


def _version(result: InterchangeResult) -> str:
    return result.version if result.version in ("00401", "00501") else "00401"


def _answer(out: IO[bytes], result: InterchangeResult, ours: AckEnvelope) -> X12Writer:
    """An interchange answering ``result``: the parties swapped, our control number, its version."""
    return X12Writer(out, sender=Party(result.receiver[0], result.receiver[1]),
                     receiver=Party(result.sender[0], result.sender[1]), control_number=ours.control_number,
                     timestamp=ours.timestamp, version=_version(result), usage=ours.usage,
                     separators=ours.separators or result.separators)


def write_997(data: Source, envelope: AckEnvelope | Callable[[InterchangeResult], AckEnvelope],
              out: IO[bytes]) -> bool:
    """Write the 997 interchange for ``data`` to ``out``; return False when there is nothing to acknowledge.

    One 997 set per functional group, its AK2 loops written as the sets are checked, so memory stays flat
    whatever the size of ``data`` (an open binary file is read a chunk at a time); the 997 goes to a
    temporary file first. An interchange whose envelope is broken (IEA02 not ISA13, a wrong IEA01, no IEA,
    segments outside any set) is rejected whole by a TA1 (TA104 R, the TA105 note code of the first error)
    instead: its groups are not taken, so they get no 997. Acknowledgments are never acknowledged.
    ``envelope`` may be a function of the interchange (its parties are known once its ISA is read).
    """
    state: dict[str, Any] = {"open": None}
    with tempfile.TemporaryFile() as spool:
        def start(result: InterchangeResult) -> None:
            ours = envelope(result) if callable(envelope) else envelope
            state.update(envelope=ours, version=_version(result), writer=_answer(spool, result, ours))
            state["writer"].begin_group("FA", ours.group_control_number)

        def begin(group: GroupResult) -> X12Writer:
            writer = state["writer"]
            if state["open"] is not group:
                writer.open_set("997")
                writer.add_segment("AK1", [group.gs01, group.gs06, group.gs08 if state["version"] == "00501" else None])
                state["open"] = group
            return writer

        def take_set(group: GroupResult, verdict: SetResult) -> None:
            if group.gs01 != "FA":
                writer = begin(group)
                for tag, elements in set_segments(verdict, state["version"] == "00501"):
                    writer.add_segment(tag, elements)

        def take_group(group: GroupResult) -> None:
            if group.gs01 != "FA":
                writer = begin(group)
                writer.add_segment(*group_trailer(group))
                writer.close_set()
                state["open"] = None

        result = check_interchange(data, on_start=start, on_set=take_set, on_group=take_group)
        if result.only_acknowledgments or not (acknowledgeable(result) or result.errors):
            return False
        if result.errors:
            ta1 = _answer(out, result, state["envelope"])
            ta1.write_ta1(result.isa13, result.date, result.time, "R", result.errors[0].note)
            ta1.close()
            return True
        state["writer"].close()
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    return True


def acknowledgeable(result: InterchangeResult) -> list[GroupResult]:
    """The groups a 997 answers: every group except 997s themselves."""
    return [g for g in result.groups if g.gs01 != "FA"]


def build_997(data: Source, envelope: AckEnvelope) -> bytes | None:
    """The 997 (or rejecting TA1) for ``data`` as bytes, or ``None`` when there is nothing to acknowledge."""
    out = io.BytesIO()
    return out.getvalue() if write_997(data, envelope, out) else None


def read_acks(data: bytes | str) -> dict[str, Any]:
    """Read a received 997 (or TA1) interchange into plain data: what was acknowledged, and how.

    ``problems`` lists codes outside their X12 code lists (an AK501 ``Q``): such an ack says nothing
    a person may rely on. ``sender``/``receiver`` are the ack's ISA06/ISA08 and each group ack's
    ``sender_group``/``receiver_group`` its GS02/GS03, for matching it to what was sent.
    """
    segments = iter_segments(data)
    isa = next(segments)  # detect_separators has found an ISA: there is one
    report: dict[str, Any] = {"standard": "X12", "interchange_control_number": isa.get(13),
                              "sender": isa.get(6).strip(), "receiver": isa.get(8).strip(),
                              "interchange_acks": [], "group_acks": [], "problems": []}
    problems: list[str] = report["problems"]
    gs: Segment | None = None
    group: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    segment_error: dict[str, Any] | None = None
    for seg in segments:
        if seg.tag == "GS":
            gs = seg
        elif seg.tag == "TA1":
            report["interchange_acks"].append({"control_number": seg.get(1), "date": seg.get(2), "time": seg.get(3),
                                               "status": seg.get(4), "note_code": seg.get(5)})
            problems += _off_list(seg.index, "TA104", [seg.get(4)]) + _off_list(seg.index, "TA105", [seg.get(5)])
        elif seg.tag == "AK1":
            group = {"functional_id": seg.get(1), "control_number": seg.get(2), "version": seg.get(3) or None,
                     "sender_group": gs.get(2) if gs else None, "receiver_group": gs.get(3) if gs else None,
                     "status": None, "status_text": None, "sets": [], "errors": []}
            report["group_acks"].append(group)
        elif group is None and seg.tag in ("AK2", "AK3", "AK4", "AK5", "AK9"):
            raise ParseError(f"{seg.tag} before AK1", segment=seg.index)
        elif seg.tag == "AK2":
            current = {"transaction_set": seg.get(1), "control_number": seg.get(2), "status": None,
                       "status_text": None, "errors": [], "segment_errors": []}
            group["sets"].append(current)  # type: ignore[index]
        elif seg.tag == "AK3":
            if current is None:
                raise ParseError("AK3 outside an AK2 loop", segment=seg.index)
            segment_error = {"segment": seg.get(1), "position": seg.get(2), "loop": seg.get(3) or None,
                             "code": seg.get(4), "text": SEGMENT_ERRORS.get(seg.get(4), "unknown code"),
                             "elements": []}
            current["segment_errors"].append(segment_error)
            problems += _off_list(seg.index, "AK304", [seg.get(4)] if seg.get(4) else [])
        elif seg.tag == "AK4":
            if segment_error is None:
                raise ParseError("AK4 outside an AK3 loop", segment=seg.index)
            segment_error["elements"].append({"position": seg.get(1), "reference": seg.get(2), "code": seg.get(3),
                                              "text": ELEMENT_ERRORS.get(seg.get(3), "unknown code"),
                                              "data": seg.get(4) or None})
            problems += _off_list(seg.index, "AK403", [seg.get(3)])
        elif seg.tag == "AK5":
            if current is None:
                raise ParseError("AK5 outside an AK2 loop", segment=seg.index)
            current["status"] = seg.get(1)
            current["status_text"] = SET_STATUS.get(seg.get(1), "unknown status")
            current["errors"] = [{"code": c, "text": SET_ERRORS.get(c, "unknown code")} for c in seg.elements[1:] if c]
            problems += _off_list(seg.index, "AK501", [seg.get(1)])
            problems += _off_list(seg.index, "AK502", [c for c in seg.elements[1:] if c])
            current, segment_error = None, None
        elif seg.tag == "AK9":
            group["status"] = seg.get(1)  # type: ignore[index]
            group["status_text"] = GROUP_STATUS.get(seg.get(1), "unknown status")  # type: ignore[index]
            group.update({"sets_included": seg.get(2), "sets_received": seg.get(3),  # type: ignore[union-attr]
                          "sets_accepted": seg.get(4),
                          "errors": [{"code": c, "text": GROUP_ERRORS.get(c, "unknown code")}
                                     for c in seg.elements[4:] if c]})
            problems += _off_list(seg.index, "AK901", [seg.get(1)])
            problems += _off_list(seg.index, "AK905", [c for c in seg.elements[4:] if c])
        elif seg.tag == "SE":
            if group is not None and group["status"] is None:
                raise ParseError("997 set ends without an AK9", segment=seg.index)
            group, current, segment_error = None, None, None
    for ack in report["group_acks"]:
        if ack["status"] is None:
            raise ParseError(f"acknowledgment of group {ack['control_number']} has no AK9")
    if not report["group_acks"] and not report["interchange_acks"]:
        raise ParseError("no 997 (AK1) or TA1 acknowledgment in this interchange")
    return report
