"""Render plans: a mapping's ``fields`` compiled once into one Python function of (source record, record number).

A mapping is data (YAML) that says where each canonical field comes from. Walking that data for every record
(a function call per field, a dict built field by field) cost more than the writing itself, so it is compiled
once: every plain leaf becomes an inline lookup with its check in the generated function's own body, groups
become dict and list displays, repeated children their own function. Leaves that need more (dates, amounts,
lookups, dotted paths, defaults) call the leaf function :func:`compile_leaf` made, which is also the reference
the generated code is tested against: the same values, the same errors naming the same field.

The generated source only ever holds names it made and ``repr``-quoted strings of the mapping, never its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlc.formats.errors import RenderError
from mlc.formats.mapping import LEAF_KEYS, get_path
from mlc.formats.values import as_date, as_decimal, decimal_text

Resolver = Callable[[Mapping[str, Any], "int | None"], Any]

_TWO_PLACES = re.compile(r"-?(?:0|[1-9][0-9]{0,14})\.[0-9][0-9]\Z")  # at most MAX_INTEGER_DIGITS (15)


def compile_spec(spec: Any, name: str = "") -> Resolver:
    """Turn a field spec (leaf, group, list or repeat) into its render plan: one function of (record, number)."""
    plan = _Plan()
    return _function(plan, "r, index", plan.expression(spec, name), name or "fields")


def compile_rows(columns: Sequence[tuple[str, Mapping[str, Any]]], *, line_prefix: str | None = None
                 ) -> tuple[Callable[[Mapping[str, Any], int | None], tuple[Any, ...]],
                            Callable[[tuple[Any, ...], Mapping[str, Any], int | None], tuple[Any, ...]]]:
    """The render plan of a flat file's rows: ``(of_record, of_line)``.

    ``of_record(record, number)`` gives the values of the columns that come from the record; ``of_line(those
    values, line, number)`` the whole row, in column order, the columns whose path starts with ``line_prefix``
    read from the line. A record's own columns are resolved once, however many lines it has. Without
    ``line_prefix`` every column is the record's and ``of_line(values, None, number)`` is the row.
    """
    record_plan, line_plan = _Plan(), _Plan()
    own: list[str] = []
    row: list[str] = []
    for name, spec in columns:
        path = str(spec.get("path") or "")
        if line_prefix and path.startswith(line_prefix):
            row.append(line_plan.expression({**spec, "path": path[len(line_prefix):]}, name, source="l"))
        else:
            row.append(f"o[{len(own)}]")
            own.append(record_plan.expression(spec, name))
    of_record = _function(record_plan, "r, index", f"({', '.join(own)},)" if own else "()", "record columns")
    of_line = _function(line_plan, "o, l, index", f"({', '.join(row)},)" if row else "()", "row")
    return of_record, of_line


def _function(plan: _Plan, arguments: str, body: str, what: str) -> Callable[..., Any]:
    source = f"def _plan({arguments}):\n    return {body}\n"
    namespace = dict(plan.names)
    exec(compile(source, f"<render plan {what}>", "exec"), namespace)  # noqa: S102 - our own source
    function = namespace["_plan"]
    function.__doc__ = source
    return function


class _Plan:
    """The generated expression and the objects it refers to (leaf functions, error helpers)."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_required": _required, "_optional": _optional}
        self.counter = 0

    def _name(self, prefix: str, value: Any) -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.names[name] = value
        return name

    def expression(self, spec: Any, name: str, source: str = "r") -> str:
        """The Python expression of ``spec`` read from the variable ``source`` (``r``, the record; ``l``, a line)."""
        if isinstance(spec, list):
            return "[" + ", ".join(self.expression(item, f"{name}[{i}]", source) for i, item in enumerate(spec, 1)) + "]"
        if isinstance(spec, dict) and "fields" in spec:
            inner = self._name("_each", compile_spec(spec["fields"], name))
            children = self._name("_children", _children_of(spec["path"]))
            return f"[{inner}(c, index) for c in {children}({source})]"
        if isinstance(spec, dict) and not (set(spec) & LEAF_KEYS):
            return "{" + ", ".join(f"{key!r}: {self.expression(sub, f'{name}.{key}' if name else key, source)}"
                                   for key, sub in spec.items()) + "}"
        return self._leaf(spec, name, source)

    def _leaf(self, spec: Mapping[str, Any], name: str, source: str = "r") -> str:
        const, path = spec.get("const"), spec.get("path")
        plain = spec.get("lookup") is None and spec.get("type", "text") == "text"
        if "const" in spec and const not in (None, "") and plain:
            return repr(str(const))
        r = source
        leaf = f"{self._name('_leaf', compile_leaf(spec, name))}({r}, index)"
        if not path or "." in path or "const" in spec:
            return leaf
        self.counter += 1
        value = f"_v{self.counter}"
        if plain and spec.get("default") is None:
            # The common leaf, inline: a plain field copied as text (a string as it is, anything else as str()).
            fallback = f"_required({value}, index, {name!r})" if spec.get("required") else f"_optional({value})"
            return f"({value} if ({value} := {r}.get({path!r})).__class__ is str and {value} else {fallback})"
        if plain:  # with a default: a value that is there is taken as it is, the leaf decides the rest
            return f"({value} if ({value} := {r}.get({path!r})).__class__ is str and {value} else {leaf})"
        if spec.get("type") == "amount" and spec.get("lookup") is None:  # already two places: as it is
            self.names["_two_places"] = _TWO_PLACES.match
            return f"({value} if ({value} := {r}.get({path!r})).__class__ is str and _two_places({value}) else {leaf})"
        return leaf


def _required(value: Any, index: int | None, name: str) -> str:
    if value is None or value == "":
        raise RenderError("is required", record=index, field=name)
    return str(value)


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _children_of(path: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    def children(record: Mapping[str, Any]) -> list[Any]:
        found = get_path(record, path) or []
        return [found] if isinstance(found, Mapping) else found  # a single child element (XML answers): a list of one

    return children


def compile_leaf(spec: Mapping[str, Any], name: str) -> Resolver:
    """One leaf (``path``/``const``, ``default``, ``required``, ``lookup``, ``type`` and ``format``) as a function."""
    const, path, default = spec.get("const"), spec.get("path"), spec.get("default")
    has_const, required, kind, fmt = "const" in spec, bool(spec.get("required")), spec.get("type", "text"), spec.get("format")
    table = spec.get("lookup")
    has_fallback, fallback = "lookup_default" in spec, spec.get("lookup_default")
    simple = "." not in (path or ".")

    if has_const and const not in (None, "") and table is None and kind == "text":
        constant = str(const)
        return lambda record, index: constant
    if path and simple and table is None and kind == "text" and default is None and not has_const:
        def text_leaf(record: Mapping[str, Any], index: int | None) -> Any:
            value = record.get(path)
            if value is None or value == "":
                if required:
                    raise RenderError("is required", record=index, field=name)
                return None
            return value if value.__class__ is str else str(value)

        return text_leaf

    def leaf(record: Mapping[str, Any], index: int | None) -> Any:
        value = const if has_const else (record.get(path) if simple else get_path(record, path)) if path else None
        if value is None or value == "":
            value = default
            if value is None or value == "":
                if required:
                    raise RenderError("is required", record=index, field=name)
                return None
        if table is not None:
            key = str(value)
            if key in table:
                value = table[key]
            elif has_fallback:
                value = fallback
            else:
                raise RenderError(f"{value!r} has no entry in the lookup table", record=index, field=name)
        if kind == "date":
            day = as_date(value, name, index)
            return day.strftime(fmt) if fmt else day.isoformat()
        if kind == "amount":
            if value.__class__ is str and _TWO_PLACES.match(value):
                return value  # already what decimal_text(..., 2) would give
            return decimal_text(as_decimal(value, name, index), 2)
        if kind == "number":
            return decimal_text(as_decimal(value, name, index))
        return value if value.__class__ is str else str(value)

    return leaf
