"""Checking a received X12 interchange: envelope, counts, control numbers, segments, elements.

The result is what a 997 reports (one group result per GS, one set result per ST, with the X12
codes 715/716/717/718/720/723) and what ``mlc validate`` prints. Element rules cover the sets
ml-connector exchanges (810, 820, 850, 856, 838, 997); other sets get envelope checks only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mlc.formats.errors import ParseError
from mlc.formats.x12 import FUNCTIONAL_IDS, Segment, Source, X12Segments, X12Separators

SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
SUPPORTED_SETS = {"810", "820", "850", "856", "838", "997"}
MANDATORY = {"810": ("BIG", "TDS"), "820": ("BPR",), "850": ("BEG", "PO1"), "856": ("BSN", "HL"),
             "838": ("BTP",), "997": ("AK1", "AK9")}

@dataclass(frozen=True)
class Rule:
    """One element rule: X12 position, data element reference number, type, usage, length, codes."""

    position: int
    reference: int
    kind: str  # AN, ID, DT, TM, N0, N2, R
    required: bool = False
    min_len: int = 1
    max_len: int | None = None
    codes: frozenset[str] | None = None


GS01_CODES = frozenset({*FUNCTIONAL_IDS.values(), "BE", "HB", "HC", "HI", "HN", "HP", "HR", "HS"})
RULES: dict[str, tuple[Rule, ...]] = {
    "BIG": (Rule(1, 373, "DT", True), Rule(2, 76, "AN", True, 1, 22), Rule(3, 373, "DT"), Rule(4, 324, "AN", False, 1, 22)),
    "TDS": (Rule(1, 610, "N2", True, 1, 15),),
    "IT1": (Rule(2, 358, "R", False, 1, 10), Rule(3, 355, "ID", False, 2, 2), Rule(4, 212, "R", False, 1, 17)),
    "CTT": (Rule(1, 354, "N0", True, 1, 6),),
    "BEG": (Rule(1, 353, "ID", True, 2, 2), Rule(2, 92, "ID", True, 2, 2), Rule(3, 324, "AN", True, 1, 22),
            Rule(5, 373, "DT", True)),
    "PO1": (Rule(2, 330, "R", False, 1, 15), Rule(3, 355, "ID", False, 2, 2), Rule(4, 212, "R", False, 1, 17)),
    "BSN": (Rule(1, 353, "ID", True, 2, 2), Rule(2, 396, "AN", True, 2, 30), Rule(3, 373, "DT", True),
            Rule(4, 337, "TM", True)),
    "HL": (Rule(1, 628, "AN", True, 1, 12), Rule(3, 735, "ID", True, 1, 2)),
    "SN1": (Rule(2, 382, "R", True, 1, 10), Rule(3, 355, "ID", True, 2, 2)),
    "BPR": (Rule(1, 305, "ID", True, 1, 2), Rule(2, 782, "R", True, 1, 18), Rule(3, 478, "ID", True, 1, 1,
            frozenset({"C", "D"})), Rule(4, 591, "ID", True, 3, 3), Rule(16, 373, "DT")),
    "TRN": (Rule(1, 481, "ID", True, 1, 2), Rule(2, 127, "AN", True, 1, 30)),
    "RMR": (Rule(4, 782, "R", False, 1, 18), Rule(5, 782, "R", False, 1, 18)),
    "DTM": (Rule(1, 374, "ID", True, 3, 3), Rule(2, 373, "DT")),
    "N1": (Rule(1, 98, "ID", True, 2, 3), Rule(2, 93, "AN", False, 1, 60)),
    "BTP": (Rule(1, 353, "ID", True, 2, 2), Rule(2, 127, "AN", True, 1, 30), Rule(3, 373, "DT", True),
            Rule(4, 337, "TM", True)),
    "AK1": (Rule(1, 479, "ID", True, 2, 2, GS01_CODES), Rule(2, 28, "N0", True, 1, 9)),
    "AK2": (Rule(1, 143, "ID", True, 3, 3), Rule(2, 329, "AN", True, 4, 9)),
    "AK3": (Rule(1, 721, "ID", True, 2, 3), Rule(2, 719, "N0", True, 1, 6), Rule(4, 720, "ID", False, 1, 3)),
    "AK4": (Rule(2, 725, "N0", False, 1, 4), Rule(3, 723, "ID", True, 1, 3)),
    "AK5": (Rule(1, 717, "ID", True, 1, 1, frozenset("AEMRWX")),),
    "AK9": (Rule(1, 715, "ID", True, 1, 1, frozenset("AEMPRWX")), Rule(2, 97, "N0", True, 1, 6),
            Rule(3, 123, "N0", True, 1, 6), Rule(4, 2, "N0", True, 1, 6)),
}
_NUMBER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")


@dataclass(slots=True)
class ElementError:
    position: int
    reference: int
    code: str  # 723
    data: str = ""


@dataclass(slots=True)
class SegmentError:
    tag: str
    position: int  # in the set, ST = 1
    code: str  # 720
    elements: list[ElementError] = field(default_factory=list)
    index: int = 0  # in the file, as ``mlc inspect`` numbers segments; 0 for one that is missing


NO_ERRORS: tuple = ()


@dataclass(slots=True)
class SetResult:
    st01: str
    st02: str
    st03: str = ""
    codes: list[str] = field(default_factory=list)  # 718
    segments: list[SegmentError] = field(default_factory=list)

    @property
    def status(self) -> str:  # 717
        return "R" if self.codes or self.segments else "A"


@dataclass
class GroupResult:
    """One functional group's verdict. ``sets`` holds each set's verdict unless the caller takes them as
    they come (``on_set``); ``received`` and ``sets_accepted`` count them either way."""

    gs01: str
    gs06: str
    gs08: str
    gs02: str = ""
    gs03: str = ""
    sets: list[SetResult] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # 716
    declared: int | None = None  # GE01
    received: int = 0
    sets_accepted: int = 0

    @property
    def accepted(self) -> int:
        """Sets accepted; none when the group itself is rejected."""
        return 0 if self.codes else self.sets_accepted

    @property
    def status(self) -> str:  # 715
        if self.codes or (self.received and self.accepted == 0) or not self.received:
            return "R"
        return "A" if self.accepted == self.received else "P"


class SeenNumbers:
    """Control numbers seen so far, to find one used twice: a run of consecutive numbers zero-padded to one
    width (0001, 0002 ... 10000: the common case, kept as its ends) and a set for the rest, so a group of
    many sets stays small."""

    def __init__(self) -> None:
        self.run: tuple[int, int, int] | None = None  # padded width, first, last
        self.others: set[str] = set()

    def seen(self, value: str) -> bool:
        """Whether ``value`` was seen before; it is noted either way."""
        if value.isdigit():
            number, run = int(value), self.run
            width = len(value) if run is None else run[0]
            if value == f"{number:0{width}d}":  # in the run's own spelling
                if run is not None and run[1] <= number <= run[2]:
                    return True
                if run is None or number == run[2] + 1:
                    if value in self.others:
                        return True
                    self.run = (width, number if run is None else run[1], number)
                    return False
        if value in self.others:
            return True
        self.others.add(value)
        return False


@dataclass(frozen=True)
class InterchangeError:
    """An error of the interchange itself, answered by a TA1 with note code ``note`` (TA105, X12 element I18:
    001 control numbers differ, 018 invalid ISA13, 021 wrong IEA01, 022 invalid control structure,
    023 premature end, 024 invalid content)."""

    note: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class InterchangeResult:
    isa13: str
    version: str
    sender: tuple[str, str]
    receiver: tuple[str, str]
    separators: X12Separators
    date: str = ""  # ISA09, ISA10: a TA1 names them
    time: str = ""
    groups: list[GroupResult] = field(default_factory=list)
    ta1s: int = 0  # interchange acknowledgments it carries
    errors: list[InterchangeError] = field(default_factory=list)  # interchange-level (TA1 territory)

    @property
    def valid(self) -> bool:
        return not self.errors and all(g.status == "A" for g in self.groups)

    @property
    def only_acknowledgments(self) -> bool:
        """It carries TA1s or 997 groups and nothing else: acknowledgments are never acknowledged."""
        return (self.ta1s > 0 or bool(self.groups)) and all(g.gs01 == "FA" for g in self.groups)


def _is_date(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _is_time(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}(\d{2}(\d{1,2})?)?", value)) and int(value[:2]) < 24 and int(value[2:4]) < 60


def _element_errors(seg: Segment) -> list[ElementError]:
    errors: list[ElementError] = []
    for rule in RULES.get(seg.tag, ()):
        position, reference, kind = rule.position, rule.reference, rule.kind
        value = seg.get(position)
        if value == "":
            if rule.required:
                errors.append(ElementError(position, reference, "1"))
            continue
        numeric = kind in ("N0", "N2", "R")
        digits = len(value.lstrip("-").replace(".", "")) if numeric else len(value)
        code = None
        if (kind in ("N0", "N2") and not _NUMBER.match(value)) or (kind == "R" and not _DECIMAL.match(value)):
            code = "6"
        elif rule.max_len is not None and digits > rule.max_len:
            code = "5"
        elif digits < rule.min_len:
            code = "4"
        elif rule.codes is not None and value not in rule.codes:
            code = "7"
        elif kind == "DT" and not _is_date(value, "%Y%m%d"):
            code = "8"
        elif kind == "TM" and not _is_time(value):
            code = "9"
        if code:
            errors.append(ElementError(position, reference, code, value[:99]))
    return errors


def _hl_errors(seg: Segment, seen: set[str]) -> list[ElementError]:
    """HL01 numbers the HL segments 1, 2, 3 ... in order; HL02 names an HL that came before (blank at the top)."""
    errors: list[ElementError] = []
    own, parent = seg.get(1), seg.get(2)
    if own and own != str(len(seen) + 1):
        errors.append(ElementError(1, 628, "7", own[:99]))
    if parent and parent not in seen:
        errors.append(ElementError(2, 734, "7", parent[:99]))
    seen.add(own or str(len(seen) + 1))
    return errors


def _check_set(st: Segment, body: list[Segment], se: Segment | None, group_id: str, seen: SeenNumbers) -> SetResult:
    result = SetResult(st.get(1), st.get(2), st.get(3))
    if not re.fullmatch(r"\d{3}", result.st01):
        result.codes.append("6")
    elif FUNCTIONAL_IDS.get(result.st01, group_id) != group_id:
        result.codes.append("6")  # the set does not belong in this functional group
    elif result.st01 not in SUPPORTED_SETS:
        result.codes.append("1")
    if not re.fullmatch(r"\d{4,9}", result.st02):
        result.codes.append("7")
    elif seen.seen(result.st02):
        result.codes.append("23")
    if se is None:
        result.codes.append("2")
    else:
        if se.get(2) != result.st02:
            result.codes.append("3")
        if se.get(1) != str(len(body) + 2):
            result.codes.append("4")
    hl_ids: set[str] = set()
    for offset, seg in enumerate(body, 2):
        if not SEGMENT_ID.match(seg.tag):
            result.segments.append(SegmentError(seg.tag[:3] or "?", offset, "1", index=seg.index))
            continue
        elements = _element_errors(seg)
        if seg.tag == "HL":
            elements += _hl_errors(seg, hl_ids)
        if seg.elements and seg.elements[-1] == "":
            # A separator before the terminator announces an element that is not there (pyx12: SEG1). No
            # standard 723 code names it; "too many data elements" at the empty position is the nearest.
            elements.append(ElementError(len(seg.elements), 0, "3"))
        if elements:
            result.segments.append(SegmentError(seg.tag, offset, "8", elements, index=seg.index))
    if result.st01 in MANDATORY:
        present = {seg.tag for seg in body}
        for tag in MANDATORY[result.st01]:
            if tag not in present:
                result.segments.append(SegmentError(tag, len(body) + 2, "3"))
    if result.segments and "5" not in result.codes:
        result.codes.append("5")
    # An accepted set (the common case) keeps no lists: a file of many sets stays small in memory.
    result.codes = result.codes or NO_ERRORS  # type: ignore[assignment]
    result.segments = result.segments or NO_ERRORS  # type: ignore[assignment]
    return result


def check_interchange(data: Source, *, on_start: Callable[[InterchangeResult], None] | None = None,
                      on_set: Callable[[GroupResult, SetResult], None] | None = None,
                      on_group: Callable[[GroupResult], None] | None = None) -> InterchangeResult:
    """Check one X12 interchange; raise :class:`ParseError` only when it cannot be read at all.

    ``data`` may be an open binary file, read a chunk at a time. With ``on_set``, each set's verdict goes to
    it as soon as the set ends and is not kept, so memory stays flat in the number of sets; ``on_start``
    sees the interchange once its ISA is read, ``on_group`` each group once it ends.
    """
    reader = X12Segments(data)
    segments = iter(reader)
    isa = next(segments, None)
    if isa is None or isa.tag != "ISA" or len(isa.elements) != 16:
        raise ParseError("the interchange must start with an ISA segment of 16 elements", segment=1)
    result = InterchangeResult(isa.get(13), isa.get(12), (isa.get(5), isa.get(6).strip()),
                               (isa.get(7), isa.get(8).strip()), reader.separators, isa.get(9), isa.get(10))
    if not re.fullmatch(r"\d{9}", result.isa13):
        result.errors.append(InterchangeError("018", f"ISA13 {result.isa13!r} is not a 9-digit control number"))
    if on_start is not None:
        on_start(result)
    group: GroupResult | None = None
    st: Segment | None = None
    body: list[Segment] = []
    seen_st02 = SeenNumbers()
    seen_gs06 = SeenNumbers()
    iea: Segment | None = None

    def close_set(se: Segment | None) -> None:
        nonlocal st, body
        if st is not None and group is not None:
            verdict = _check_set(st, body, se, group.gs01, seen_st02)
            group.received += 1
            group.sets_accepted += verdict.status == "A"
            if on_set is not None:
                on_set(group, verdict)
            else:
                group.sets.append(verdict)
        st, body = None, []

    def close_group(closing: GroupResult) -> None:
        result.groups.append(closing)
        if on_group is not None:
            on_group(closing)

    for seg in segments:
        if seg.tag == "GS":
            close_set(None)
            if group is not None:
                group.codes.append("3")  # the previous group had no GE
                close_group(group)
            group = GroupResult(seg.get(1), seg.get(6), seg.get(8), seg.get(2), seg.get(3))
            seen_st02 = SeenNumbers()
            if not re.fullmatch(r"\d{1,9}", group.gs06):
                group.codes.append("6")
            elif seen_gs06.seen(group.gs06):
                group.codes.append("19" if result.version >= "00501" else "6")
            if group.gs08[:6] not in ("004010", "005010") and group.gs01 in FUNCTIONAL_IDS.values():
                group.codes.append("2")
            if group.gs01 not in GS01_CODES:
                group.codes.append("1")
            # GS04 is CCYYMMDD from version 4010 on, YYMMDD before.
            fmt = "%Y%m%d" if group.gs08[:3] >= "004" else "%y%m%d"
            if not _is_date(seg.get(4), fmt):
                result.errors.append(InterchangeError("024", f"segment {seg.index}: GS04 {seg.get(4)!r} is not a date ({fmt})"))
        elif seg.tag == "ST":
            close_set(None)
            st = seg
        elif seg.tag == "SE":
            if st is None:
                result.errors.append(InterchangeError("022", f"segment {seg.index}: SE without ST"))
            close_set(seg)
        elif seg.tag == "GE":
            close_set(None)
            if group is None:
                result.errors.append(InterchangeError("022", f"segment {seg.index}: GE without GS"))
                continue
            group.declared = int(seg.get(1)) if seg.get(1).isdigit() else None
            if seg.get(2) != group.gs06:
                group.codes.append("4")
            if group.declared != group.received:
                group.codes.append("5")
            close_group(group)
            group = None
        elif seg.tag == "IEA":
            close_set(None)
            if group is not None:
                group.codes.append("3")
                close_group(group)
                group = None
            iea = seg
        elif st is not None:
            body.append(seg)
        elif seg.tag == "TA1":
            result.ta1s += 1
        else:
            result.errors.append(InterchangeError("022", f"segment {seg.index}: {seg.tag} outside a transaction set"))
    close_set(None)
    if group is not None:
        group.codes.append("3")
        close_group(group)
    if iea is None:
        result.errors.append(InterchangeError("023", "IEA trailer is missing"))
    else:
        if iea.get(2) != result.isa13:
            result.errors.append(InterchangeError("001", f"IEA02 {iea.get(2)!r} does not match ISA13 {result.isa13!r}"))
        if iea.get(1) != str(len(result.groups)):
            result.errors.append(InterchangeError("021", f"IEA01 says {iea.get(1)} groups, the interchange holds {len(result.groups)}"))
    return result
