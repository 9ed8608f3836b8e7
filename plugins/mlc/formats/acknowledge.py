"""The functional acknowledgment a receiver owes for an interchange: a 997 for X12, a CONTRL for
EDIFACT, with control numbers from a store (the same run key gives the same numbers, so a replay
writes the same acknowledgment)."""

from __future__ import annotations

from datetime import datetime

from mlc.formats.control_numbers import ControlNumberStore
from mlc.formats.edifact_ack import ContrlEnvelope, build_contrl, check_edifact
from mlc.formats.errors import FormatError
from mlc.formats.x12_ack import AckEnvelope, build_997
from mlc.formats.x12_check import check_interchange


def standard_of(data: bytes) -> str:
    """``x12`` or ``edifact`` by the first segment; :class:`FormatError` for anything else."""
    head = data.lstrip(b"\xef\xbb\xbf\r\n \t")[:3]
    if head == b"ISA":
        return "x12"
    if head in (b"UNA", b"UNB"):
        return "edifact"
    raise FormatError("neither X12 (starts with ISA) nor EDIFACT (starts with UNA or UNB)")


def acknowledge(data: bytes, store: ControlNumberStore, run_key: str, when: datetime) -> tuple[str, bytes | None]:
    """(standard, acknowledgment); ``None`` when the interchange holds only acknowledgments."""
    if standard_of(data) == "x12":
        result = check_interchange(data)
        pair = f"{result.receiver[0]}:{result.receiver[1]}|{result.sender[0]}:{result.sender[1]}"
        return "x12", build_997(data, AckEnvelope(store.allocate(f"ISA|{pair}", run_key),
                                                  store.allocate(f"GS|{pair}", run_key), when), result)
    check = check_edifact(data)
    number = store.allocate(f"UNB|{':'.join(check.recipient)}|{':'.join(check.sender)}", run_key)
    return "edifact", build_contrl(data, ContrlEnvelope(f"{number:09d}", when), check)
