"""Partner mappings: YAML files in ``include/mappings/`` that say how canonical records become a
partner's file. Data only: loaded with a safe loader (no tags, so no code), checked against the
schema below, and every mistake reported with the file, the line and what was expected.

A mapping has ``format`` (x12, edifact, csv, fixed_width), ``document`` (810/820/850/856/838,
INVOIC), ``file_name`` (``{date:%Y%m%d}``, ``{control}``, ``{run}`` placeholders), the format's own
section (``x12``, ``edifact``, ``csv``, ``fixed_width``), and either ``fields`` (EDI: canonical
field -> source spec) or ``columns`` (flat files: ordered list of column specs), and ``records``:
``changes`` (the default: a record the destination already has in the same version is left out) or
``all`` (a reference list, always sent whole when it changed).

A source spec is ``{path, const, default, required, type, format, lookup}``; ``path`` is a dotted
path into the source record (``VENDOR.NAME``, ``LINES.0.AMOUNT``). A list of specs builds a list
(``parties``); ``{path, fields}`` maps every element of a source list (``lines``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlc.formats.errors import MappingError
from mlc.formats.fields import LENGTH_POLICIES

FORMATS = {"x12": {"810", "820", "850", "856", "838"}, "edifact": {"INVOIC"}, "csv": None, "fixed_width": None}
LEAF_KEYS = {"path", "const", "default", "required", "type", "format", "lookup", "lookup_default"}
TYPES = {"text", "date", "amount", "number"}
TOP_KEYS = {"format", "document", "description", "file_name", "fields", "columns", "x12", "edifact", "csv", "lines",
            "fixed_width", "record_key", "control_numbers", "records", "samples"}
SECTION_KEYS = {
    "x12": {"version", "sender", "receiver", "usage", "separators", "text", "ack_requested", "line_break", "length",
            "ack_expected_within_hours"},
    "edifact": {"syntax", "sender", "recipient", "directory", "application", "test", "policy", "line_break",
                "length", "ack_expected_within_hours"},
    "csv": {"delimiter", "quoting", "encoding", "bom", "line_ending", "header", "formula_guard"},
    "fixed_width": {"encoding", "line_ending", "header", "record_header", "detail", "trailer", "sums", "text"},
}
COLUMN_KEYS = LEAF_KEYS | {"name", "start", "width", "align", "pad", "truncate"}


class _Node(dict):
    """A mapping node that remembers the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    """SafeLoader that records line numbers and refuses every tag it does not know, and aliases.

    A mapping is data a person writes; an alias (``*name``) saves nothing there and lets a small file
    expand into billions of nodes (the "billion laughs"), so it is refused where it stands.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise MappingError(f"an alias (*{event.anchor}) is not allowed in a mapping: write the value out",
                               line=event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Node:
    result = _Node()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise MappingError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):
        """The same, parsed by libyaml (several times faster: the DAG files read every partner profile on every
        parse); aliases are refused from libyaml's events before anything is constructed."""

    _FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = None


def _load(text: str) -> Any:
    if _FastLoader is None:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise MappingError(f"an alias (*{event.anchor}) is not allowed in a mapping: write the value out",
                               line=event.start_mark.line + 1)
    return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - a CSafeLoader subclass


def mappings_dir() -> Path:
    """Where named mappings live: ``MLC_MAPPINGS_DIR``, else the repository's ``include/mappings``."""
    return Path(os.environ.get("MLC_MAPPINGS_DIR") or Path(__file__).resolve().parents[3] / "include" / "mappings")


def mapping_path(name: str, root: Path | None = None) -> Path:
    """A mapping (or feed) by its name under the mappings folder (``intacct_to_sftp/bills_x12_810``), never
    outside it. DAG Params and the ``mlc`` command name mappings the same way."""
    root = (root or mappings_dir()).resolve()
    relative = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"mapping {name!r} is outside {root}")
    if not path.is_file():
        raise FileNotFoundError(f"mapping {name!r} not found under {root}")
    return path


def alternatives(name: str, root: Path | None = None) -> dict[str, str]:
    """The mappings a DAG's form may offer instead of ``name``: those beside it that render the same source records
    (the same ``samples:``), ``name`` first, each with its ``description``. Read from the files' own lines, not
    parsed (it runs at every DAG parse)."""
    path = mapping_path(name, root)
    folder = _described(str(path.parent))
    mine = folder.get(path.stem, ("", ""))[0]
    prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    found = {name: folder.get(path.stem, ("", ""))[1]}
    for stem, (samples, description) in sorted(folder.items()):
        if mine and samples == mine:
            found.setdefault(prefix + stem, description)
    return found


_SAMPLES = re.compile(r"^samples:\s*(\S+)", re.M)
_DESCRIPTION = re.compile(r"^description:\s*(.+?)\s*$", re.M)


@functools.lru_cache(maxsize=64)
def _described(folder: str) -> dict[str, tuple[str, str]]:
    """stem -> (samples, description) of each mapping in ``folder``."""
    found = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        samples, description = _SAMPLES.search(text), _DESCRIPTION.search(text)
        found[path.stem] = (samples.group(1) if samples else "", description.group(1).strip("'\"") if description else "")
    return found


def samples_path(mapping: dict[str, Any]) -> Path | None:
    """The sample source records a mapping names (``samples:``, relative to the mapping file), if any."""
    if not mapping.get("samples"):
        return None
    return Path(mapping["_source"]).parent / mapping["samples"]


def read_yaml(path: str | Path, what: str = "mapping") -> Any:
    """A data file (a mapping, a partner profile) read with line numbers kept, unknown tags and aliases
    refused; a mistake raises :class:`MappingError` naming the file and line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read {what}: {exc.strerror}", source=source) from None
    try:
        return _load(text)
    except MappingError as exc:
        raise MappingError(exc.reason.replace("a mapping", f"a {what}"), source=source, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise MappingError(f"not valid YAML: {exc.problem}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise MappingError(f"not valid YAML: {exc}", source=source) from None
    except RecursionError:
        raise MappingError(f"nested too deep to be a {what}", source=source) from None


def load_mapping(path: str | Path) -> dict[str, Any]:
    """Load and check one mapping file; raise :class:`MappingError` naming the file and line."""
    source = str(path)
    data = read_yaml(path)
    try:
        check_mapping(data, source)
    except RecursionError:
        raise MappingError("nested too deep to be a mapping", source=source) from None
    data["_source"] = source
    return data


def fail(message: str, source: str, node: Any, key: str | None = None) -> MappingError:
    """A mistake in a data file, at the line of ``key`` in ``node`` (or of ``node``)."""
    line = None
    if isinstance(node, _Node):
        line = node.key_lines.get(key, node.line) if key else node.line
    return MappingError(message, source=source, line=line)


def check_keys(node: Any, allowed: set[str], what: str, source: str) -> None:
    if not isinstance(node, dict):
        raise fail(f"{what} must be a mapping of keys to values", source, node)
    for key in node:
        if key not in allowed:
            raise fail(f"unknown key {key!r} in {what}; expected one of {sorted(allowed)}", source, node, key)


def _check_leaf(spec: Any, where: str, source: str, allowed: set[str] = LEAF_KEYS) -> None:
    check_keys(spec, allowed, where, source)
    if "path" not in spec and "const" not in spec and "default" not in spec:
        raise fail(f"{where} needs 'path', 'const' or 'default'", source, spec)
    if "path" in spec and (not isinstance(spec["path"], str) or not re.fullmatch(r"[^.\s]+(\.[^.\s]+)*", spec["path"])):
        raise fail(f"{where}: path must be a dotted path such as VENDOR.NAME", source, spec, "path")
    if spec.get("type", "text") not in TYPES:
        raise fail(f"{where}: type must be one of {sorted(TYPES)}", source, spec, "type")
    if "lookup" in spec and not isinstance(spec["lookup"], dict):
        raise fail(f"{where}: lookup must be a mapping of source values to codes", source, spec, "lookup")
    if "required" in spec and not isinstance(spec["required"], bool):
        raise fail(f"{where}: required must be true or false", source, spec, "required")


def _check_fields(node: Any, where: str, source: str) -> None:
    if not isinstance(node, dict):
        raise fail(f"{where} must be a mapping of field names to specs", source, node)
    for name, spec in node.items():
        here = f"{where}.{name}"
        if isinstance(spec, list):
            for i, item in enumerate(spec):
                _check_fields(item, f"{here}[{i}]", source)
        elif isinstance(spec, dict) and "fields" in spec:
            check_keys(spec, {"path", "fields"}, here, source)
            if not isinstance(spec.get("path"), str):
                raise fail(f"{here} needs the 'path' of the source list", source, spec)
            _check_fields(spec["fields"], f"{here}.fields", source)
        elif isinstance(spec, dict) and spec and all(isinstance(v, (dict, list)) for v in spec.values()):
            _check_fields(spec, here, source)  # a group of fields (terms, a party)
        else:
            _check_leaf(spec, here, source)


def check_mapping(data: Any, source: str = "<mapping>") -> None:
    """Check a loaded mapping against the schema; raise :class:`MappingError` at the first mistake."""
    check_keys(data, TOP_KEYS, "the mapping", source)
    if data.get("records", "changes") not in ("changes", "all"):
        raise fail("records must be 'changes' (each record once per version, the default) or 'all' (a list sent "
                    "whole)", source, data, "records")
    samples = data.get("samples")
    if samples is not None and (not isinstance(samples, str) or samples.startswith("/") or ".." in samples.split("/")):
        raise fail("samples must be a path beside the mapping (samples/bills.jsonl)", source, data, "samples")
    fmt = data.get("format")
    if fmt not in FORMATS:
        raise fail(f"format must be one of {sorted(FORMATS)}, not {fmt!r}", source, data, "format")
    documents = FORMATS[fmt]
    if documents is not None:
        if str(data.get("document")) not in documents:
            raise fail(f"document for {fmt} must be one of {sorted(documents)}, not {data.get('document')!r}",
                        source, data, "document" if "document" in data else None)
        if "lines" in data:
            raise fail(f"lines is for flat files (csv, fixed_width): a {fmt} mapping has its lines under fields",
                       source, data, "lines")
        if "fields" not in data:
            raise fail(f"a {fmt} mapping needs 'fields'", source, data)
        _check_fields(data["fields"], "fields", source)
        section = data.get(fmt)
        if section is None:
            raise fail(f"a {fmt} mapping needs a '{fmt}' section (partner identifiers)", source, data)
        check_keys(section, SECTION_KEYS[fmt], fmt, source)
        parties = ("sender", "receiver") if fmt == "x12" else ("sender", "recipient")
        for party in parties:
            if not isinstance(section.get(party), dict) or not section[party].get("id"):
                node, key = (section, party) if party in section else (data, fmt)
                raise fail(f"{fmt}.{party} needs an 'id'", source, node, key)
        hours = section.get("ack_expected_within_hours")
        number = isinstance(hours, (int, float)) and not isinstance(hours, bool)
        if hours is not None and not (number and 0 < hours <= 8760):
            raise fail(f"{fmt}.ack_expected_within_hours must be a number of hours above 0 (at most 8760), not "
                        f"{hours!r}", source, section, "ack_expected_within_hours")
        if section.get("length", "cut") not in LENGTH_POLICIES:
            raise fail(f"{fmt}.length must be one of {', '.join(LENGTH_POLICIES)} (what a value longer than its "
                        "element gets)", source, section, "length")
    elif "lines" in data and (not isinstance(data["lines"], str) or not data["lines"].strip()):
        raise fail("lines must be the path of the record's lines (APBILLITEMS.APBILLITEM): one row per line",
                   source, data, "lines")
    if documents is None:
        if fmt in data:
            check_keys(data[fmt], SECTION_KEYS[fmt], fmt, source)
        if fmt == "csv":
            columns = data.get("columns")
            if not isinstance(columns, list) or not columns:
                raise fail("a csv mapping needs 'columns', a list of column specs", source, data)
            for i, col in enumerate(columns):
                check_keys(col, COLUMN_KEYS, f"columns[{i}]", source)
                if not col.get("name"):
                    raise fail(f"columns[{i}] needs a 'name'", source, col)
                _check_leaf(col, f"columns[{i}] ({col['name']})", source, COLUMN_KEYS)
        else:
            section = data.get("fixed_width") or {}
            if "detail" not in section:
                raise fail("a fixed_width mapping needs fixed_width.detail (the record layout)", source, data)
            for kind in ("header", "record_header", "detail", "trailer"):
                if kind in section:
                    _check_layout(section[kind], f"fixed_width.{kind}", source)
            if "record_header" in section and "lines" not in data:
                raise fail("fixed_width.record_header heads each record's lines: the mapping needs 'lines'", source,
                           section, "record_header")
    if "file_name" in data and not isinstance(data["file_name"], str):
        raise fail("file_name must be a string pattern", source, data, "file_name")


def _check_layout(layout: Any, where: str, source: str) -> None:
    check_keys(layout, {"length", "fields", "columns"}, where, source)
    columns = layout.get("columns")
    if not isinstance(columns, list) or not columns:
        raise fail(f"{where} needs 'columns'", source, layout)
    for i, col in enumerate(columns):
        check_keys(col, COLUMN_KEYS, f"{where}.columns[{i}]", source)
        for key in ("name", "start", "width"):
            if key not in col:
                raise fail(f"{where}.columns[{i}] needs '{key}'", source, col)
        if not isinstance(col["start"], int) or not isinstance(col["width"], int):
            raise fail(f"{where}.columns[{i}]: start and width must be whole numbers", source, col)


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path through dicts and lists; ``None`` when any step is missing.

    A key that itself holds the dots (Intacct answers ``DISPLAYCONTACT.EMAIL1`` flat) wins.
    """
    if path in record:
        return record[path]
    value: Any = record
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
        if value is None:
            return None
    return value
