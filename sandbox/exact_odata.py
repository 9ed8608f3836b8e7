"""The OData v2 subset the Exact Online sandbox answers (reference/exact-online.md §4.2, §10.4):
``$filter`` with eq/ne/gt/ge/lt/le, and/or/not, parentheses, ``guid''``, ``datetime''``, strings,
numbers (``123L``), true/false/null, ``substringof`` and ``trim``; and the ``/Date(ms)/`` encoding.

Datetimes are naive Amsterdam wall-clock values, encoded as epoch milliseconds as if they were UTC
(the convention the reference describes for Exact; the client converts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

Row = dict[str, Any]
_TOKEN = re.compile(r"\s*(?:(?P<guid>guid'[^']*')|(?P<dt>datetime'[^']*')|(?P<str>'(?:[^']|'')*')"
                    r"|(?P<num>-?\d+(?:\.\d+)?[LMDd]?)|(?P<op>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))")
COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a is not None and b is not None
           and a > b, "ge": lambda a, b: a is not None and b is not None and a >= b,
           "lt": lambda a, b: a is not None and b is not None and a < b,
           "le": lambda a, b: a is not None and b is not None and a <= b}


class ODataError(ValueError):
    """A query the service refuses (answered 400 with Exact's error body)."""


def to_json_date(value: datetime | None) -> str | None:
    if value is None:
        return None
    return f"/Date({int(value.replace(tzinfo=timezone.utc).timestamp() * 1000)})/"


def _literal(kind: str, text: str) -> Any:
    if kind == "guid":
        return text[5:-1].lower()
    if kind == "dt":
        raw = text[9:-1]
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
            try:
                return datetime.strptime(raw, fmt)
            except ValueError:
                continue
        raise ODataError(f"Bad datetime literal {text}")
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "num":
        number = text.rstrip("LMDd")
        return float(number) if "." in number else int(number)
    raise ODataError(f"unexpected {text}")


def parse_filter(text: str) -> tuple[Callable[[Row], bool], set[str]]:
    """Compile ``$filter`` into a predicate over rows, and the field names it uses."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ODataError(f"Bad $filter near {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind).strip()))
        pos = match.end()
    fields: set[str] = set()
    at = 0

    def peek() -> tuple[str, str] | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal at
        if at >= len(tokens):
            raise ODataError("Unexpected end of $filter")
        at += 1
        return tokens[at - 1]

    def operand() -> Callable[[Row], Any]:
        kind, value = take()
        if kind == "op" and value == "(":
            inner = disjunction()
            take()
            return inner
        if kind == "word" and value in ("substringof", "trim", "tolower", "toupper"):
            take()  # (
            args = [operand()]
            while peek() == ("op", ","):
                take()
                args.append(operand())
            take()  # )
            if value == "substringof":
                return lambda row: str(args[0](row) or "").lower() in str(args[1](row) or "").lower()
            if value == "trim":
                return lambda row: str(args[0](row) or "").strip()
            return (lambda row: str(args[0](row) or "").lower()) if value == "tolower" else \
                (lambda row: str(args[0](row) or "").upper())
        if kind == "word" and value in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[value]
            return lambda row: constant
        if kind == "word":
            if "/" in value:
                raise ODataError("This $filter parameter is not supported for this resource")
            fields.add(value)
            return lambda row: row.get(value)
        constant = _literal(kind, value)
        return lambda row: constant

    def comparison() -> Callable[[Row], Any]:
        if peek() == ("word", "not"):
            take()
            inner = comparison()
            return lambda row: not inner(row)
        left = operand()
        nxt = peek()
        if nxt and nxt[0] == "word" and nxt[1] in COMPARE:
            op = COMPARE[take()[1]]
            right = operand()
            return lambda row: op(_norm(left(row)), _norm(right(row)))
        return left

    def conjunction() -> Callable[[Row], Any]:
        parts = [comparison()]
        while peek() == ("word", "and"):
            take()
            parts.append(comparison())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def disjunction() -> Callable[[Row], Any]:
        parts = [conjunction()]
        while peek() == ("word", "or"):
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    predicate = disjunction()
    if at != len(tokens):
        raise ODataError(f"Bad $filter: unexpected {tokens[at][1]!r}")
    return (lambda row: bool(predicate(row))), fields


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and len(value) == 36 and value.count("-") == 4 else value
