"""The functional acknowledgment a receiver owes for an interchange: a 997 for X12, a CONTRL for
EDIFACT, with control numbers from a store (the same run key gives the same numbers, so a replay
writes the same acknowledgment)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import IO

from mlc.formats.control_numbers import ControlNumberStore
from mlc.formats.edifact_ack import ContrlEnvelope, InterchangeCheck, write_contrl
from mlc.formats.errors import FormatError
from mlc.formats.x12_ack import AckEnvelope, write_997
from mlc.formats.x12_check import InterchangeResult


def standard_of(data: bytes) -> str:
    """``x12`` or ``edifact`` by the first segment; :class:`FormatError` for anything else."""
    head = data.lstrip(b"\xef\xbb\xbf\r\n \t")[:3]
    if head == b"ISA":
        return "x12"
    if head in (b"UNA", b"UNB"):
        return "edifact"
    raise FormatError("neither X12 (starts with ISA) nor EDIFACT (starts with UNA or UNB)")


def acknowledge_into(source: bytes | IO[bytes], out: IO[bytes], store: ControlNumberStore, run_key: str,
                     when: datetime) -> tuple[str, bool]:
    """Write the acknowledgment for ``source`` (bytes, or a seekable binary file read a chunk at a time) to
    ``out``; return (standard, whether one was written: acknowledgments are never acknowledged)."""
    if isinstance(source, bytes):
        head = source[:512]
    else:
        head = source.read(512)
        source.seek(0)
    if standard_of(head) == "x12":
        def envelope(result: InterchangeResult) -> AckEnvelope:
            pair = f"{result.receiver[0]}:{result.receiver[1]}|{result.sender[0]}:{result.sender[1]}"
            return AckEnvelope(store.allocate(f"ISA|{pair}", run_key), store.allocate(f"GS|{pair}", run_key), when)

        return "x12", write_997(source, envelope, out)
    def contrl_envelope(check: InterchangeCheck) -> ContrlEnvelope:
        number = store.allocate(f"UNB|{':'.join(check.recipient)}|{':'.join(check.sender)}", run_key)
        return ContrlEnvelope(f"{number:09d}", when)

    return "edifact", write_contrl(source, contrl_envelope, out)


def acknowledge(data: bytes, store: ControlNumberStore, run_key: str, when: datetime) -> tuple[str, bytes | None]:
    """(standard, acknowledgment); ``None`` when the interchange holds only acknowledgments."""
    out = io.BytesIO()
    standard, written = acknowledge_into(data, out, store, run_key, when)
    return standard, out.getvalue() if written else None
