"""Filters of the Intacct sandbox: ``query``'s XML ``<filter>`` and readByQuery's SQL-like text,
both translated into a parameterised SQLite WHERE clause.

What the gateway does and this mirrors: literals are typed by the field (``mm/dd/yyyy[ HH:MM:SS]``
for dates and timestamps, in the Web Services user's offset), readByQuery compares enumerations
by stored *code* (``STATE = 'A'``) while ``query`` uses *labels* (``Posted``), string comparisons
are case-sensitive unless ``caseinsensitive`` is set, and an unknown field is an error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from sandbox.intacct_data import ENUMS, column


class FilterError(ValueError):
    """A filter the gateway would refuse; the message is what the gateway says."""


_COMPARE = {"equalto": "=", "notequalto": "<>", "lessthan": "<", "lessthanorequalto": "<=",
            "greaterthan": ">", "greaterthanorequalto": ">="}


def _when(text: str, kind: str, offset: timedelta, field: str) -> str:
    text = text.strip()
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
        try:
            value = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        raise FilterError(f"Invalid date value '{text}' for field {field}; expected mm/dd/yyyy[ HH:MM:SS]")
    if kind == "date":
        return value.date().isoformat()
    return (value - offset).isoformat(sep=" ")


class Typer:
    """Turns literals into stored values for one object's fields."""

    def __init__(self, schema: dict[str, str], offset: timedelta, *, codes: bool, case_insensitive: bool = False) -> None:
        self.schema, self.offset, self.codes, self.ci = schema, offset, codes, case_insensitive

    def kind(self, field: str) -> str:
        name = field.upper()
        if name not in self.schema:
            raise FilterError(f"Invalid field {field} in the filter")
        return self.schema[name]

    def value(self, field: str, text: str) -> Any:
        kind = self.kind(field)
        if kind in ("date", "timestamp"):
            return _when(text, kind, self.offset, field)
        if kind in ("int", "decimal"):
            try:
                return float(text) if kind == "decimal" else int(text)
            except ValueError:
                raise FilterError(f"Invalid number '{text}' for field {field}") from None
        if kind == "bool":
            return 1 if text.strip().lower() in ("true", "t", "1") else 0
        if kind == "enum":
            table = ENUMS.get(field.upper().rsplit(".", 1)[-1], {})
            if self.codes:
                if text not in table:
                    raise FilterError(f"There's an error with the value for field {field.upper()}. Value: [{text}]")
                return table[text]
            return text
        return text

    def lhs(self, field: str) -> str:
        col = column(field.upper())
        return f"LOWER({col})" if self.ci and self.kind(field) in ("text", "enum") else col

    def rhs(self, field: str, value: Any) -> Any:
        return value.lower() if self.ci and isinstance(value, str) and self.kind(field) in ("text", "enum") else value


# -- query <filter> ------------------------------------------------------------------------------
def query_filter(node: etree._Element, typer: Typer, params: list[Any]) -> str:
    """SQL for one ``<filter>`` child (an operator element)."""
    op = node.tag
    if op in ("and", "or"):
        parts = [child for child in node if isinstance(child.tag, str)]
        if len(parts) < 2:
            raise FilterError(f"<{op}> needs at least two conditions")
        return "(" + f" {op.upper()} ".join(query_filter(child, typer, params) for child in parts) + ")"
    field = (node.findtext("field") or "").strip()
    if not field:
        raise FilterError(f"<{op}> has no <field>")
    values = [v.text or "" for v in node.findall("value")]
    lhs = typer.lhs(field)
    if op == "isnull":
        return f"({lhs} IS NULL OR {lhs} = '')"
    if op == "isnotnull":
        return f"({lhs} IS NOT NULL AND {lhs} <> '')"
    if op in _COMPARE:
        if len(values) != 1:
            raise FilterError(f"<{op}> takes one <value>")
        params.append(typer.rhs(field, typer.value(field, values[0])))
        return f"{lhs} {_COMPARE[op]} ?"
    if op == "between":
        if len(values) != 2:
            raise FilterError("<between> takes two <value> elements, the low one first")
        params.extend(typer.rhs(field, typer.value(field, v)) for v in values)
        return f"{lhs} BETWEEN ? AND ?"
    if op in ("in", "notin"):
        if not 1 <= len(values) <= 1000:
            raise FilterError(f"<{op}> takes 1 to 1000 values, not {len(values)}")
        params.extend(typer.rhs(field, typer.value(field, v)) for v in values)
        return f"{lhs} {'NOT ' if op == 'notin' else ''}IN ({', '.join('?' * len(values))})"
    if op in ("like", "notlike"):
        if len(values) != 1:
            raise FilterError(f"<{op}> takes one <value>")
        params.append(typer.rhs(field, values[0]))
        return f"{lhs} {'NOT ' if op == 'notlike' else ''}LIKE ?"
    raise FilterError(f"Unknown filter operator <{op}>")


# -- readByQuery text ----------------------------------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|=|<|>)
                        |(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Query syntax error near '{text[pos:pos + 20]}'")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, typer: Typer, params: list[Any]) -> None:
        self.toks, self.i, self.typer, self.params = _tokens(text), 0, typer, params

    def peek(self, word: str | None = None) -> tuple[str, str] | None:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        if word is not None and (tok is None or tok[0] != "word" or tok[1].upper() != word):
            return None
        return tok

    def take(self, kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (value and tok[1].upper() != value):
            raise FilterError(f"Query syntax error: expected {value or kind}, found {tok[1] if tok else 'end of query'}")
        self.i += 1
        return tok

    def parse(self) -> str:
        sql = self.expr()
        if self.peek() is not None:
            raise FilterError(f"Query syntax error near '{self.peek()[1]}'")  # type: ignore[index]
        return sql

    def _chain(self, word: str, operand) -> str:
        """``operand (word operand)*``, parenthesised when there is more than one."""
        parts = [operand()]
        while self.peek(word):
            self.i += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"

    def expr(self) -> str:
        return self._chain("OR", self.term)

    def term(self) -> str:
        return self._chain("AND", self.factor)

    def factor(self) -> str:
        if self.peek("NOT"):
            self.i += 1
            return f"NOT ({self.factor()})"
        tok = self.peek()
        if tok == ("punct", "("):
            self.i += 1
            inner = self.expr()
            self.take("punct", ")")
            return f"({inner})"
        return self.comparison()

    def literal(self, field: str) -> Any:
        kind, value = self.take()
        if kind not in ("str", "num"):
            raise FilterError(f"Query syntax error: expected a value for {field}, found {value}")
        return self.typer.rhs(field, self.typer.value(field, value))

    def comparison(self) -> str:
        field = self.take("word")[1]
        lhs = self.typer.lhs(field)
        if self.peek("IS"):
            self.i += 1
            negate = bool(self.peek("NOT"))
            self.i += negate
            self.take("word", "NULL")
            return f"({lhs} IS NOT NULL AND {lhs} <> '')" if negate else f"({lhs} IS NULL OR {lhs} = '')"
        negate = bool(self.peek("NOT"))
        self.i += negate
        if self.peek("LIKE"):
            self.i += 1
            kind, value = self.take()
            self.params.append(self.typer.rhs(field, value))
            return f"{lhs} {'NOT ' if negate else ''}LIKE ?"
        if self.peek("IN"):
            self.i += 1
            self.take("punct", "(")
            values = [self.literal(field)]
            while self.peek() == ("punct", ","):
                self.i += 1
                values.append(self.literal(field))
            self.take("punct", ")")
            self.params.extend(values)
            return f"{lhs} {'NOT ' if negate else ''}IN ({', '.join('?' * len(values))})"
        if negate:
            raise FilterError("Query syntax error: NOT must be followed by LIKE or IN here")
        op = self.take("op")[1]
        self.params.append(self.literal(field))
        return f"{lhs} {'<>' if op == '!=' else op} ?"


def read_by_query_where(text: str, typer: Typer, params: list[Any]) -> str:
    """SQL for readByQuery's ``<query>`` text (empty: every record)."""
    if not text or not text.strip():
        return "1 = 1"
    return _Parser(text, typer, params).parse()
