"""The formats half of the ``mlc`` command, for people onboarding a partner.

  mlc render MAPPING RECORDS.jsonl [-o FILE]   render records (one JSON object a line) as MAPPING says
  mlc validate FILE                            readable report; exit 1 when the file is invalid
  mlc ack FILE                                 the 997 (X12) or CONTRL (EDIFACT) for FILE, on stdout
  mlc read-ack FILE                            a received 997 / TA1 / CONTRL as JSON on stdout
  mlc inspect FILE                             segments as an indented tree with element positions

Bad input of any kind: one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from mlc.formats.acknowledge import acknowledge
from mlc.formats.control_numbers import FileControlNumberStore
from mlc.formats.edifact import iter_segments as edifact_segments
from mlc.formats.edifact_ack import SYNTAX_ERRORS, check_edifact, read_contrl
from mlc.formats.errors import FormatError
from mlc.formats.mapping import load_mapping, mapping_path
from mlc.formats.render import render
from mlc.formats.x12 import iter_segments as x12_segments
from mlc.formats.x12_ack import ELEMENT_ERRORS, GROUP_ERRORS, SEGMENT_ERRORS, SET_ERRORS, read_acks
from mlc.formats.x12_check import check_interchange

DEFAULT_STATE = Path(os.environ.get("MLC_CONTROL_FILE", Path.home() / ".mlc" / "control-numbers.json"))


class CliError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None


def standard_of(data: bytes, path: str) -> str:
    head = data.lstrip(b"\xef\xbb\xbf\r\n \t")[:3]
    if head == b"ISA":
        return "x12"
    if head in (b"UNA", b"UNB"):
        return "edifact"
    raise CliError(f"{path}: neither X12 (starts with ISA) nor EDIFACT (starts with UNA or UNB)")


def _records(path: str) -> Iterator[dict[str, Any]]:
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, streamed line by line
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CliError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise CliError(f"{path}:{number}: each line must be a JSON object")
            yield record


def mapping_file(arg: str) -> Path:
    """A mapping given as a file path, or by its name under the mappings folder as the DAGs name it."""
    if not Path(arg).exists():
        try:
            return mapping_path(arg)
        except (ValueError, FileNotFoundError):
            pass  # neither: reading it as a file names what is wrong
    return Path(arg)


def cmd_render(args: argparse.Namespace) -> int:
    mapping = load_mapping(mapping_file(args.mapping))
    store = FileControlNumberStore(args.control_file)
    run_key = args.run_key or f"mlc-render|{datetime.now().isoformat()}|{os.getpid()}"
    target = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        result = render(mapping, _records(args.records), target, timestamp=datetime.now(), run_key=run_key,
                        store=store)
    finally:
        if args.output:
            target.close()
    for item in result.rejected:
        key = f" ({item['key']})" if item.get("key") else ""
        print(f"rejected record {item['record']}{key} field {item['field']!r}: {item['error']}", file=sys.stderr)
    print(f"rendered {result.records} record(s), {result.bytes} bytes, sha256 {result.sha256}"
          f"{', ' + str(len(result.rejected)) + ' rejected' if result.rejected else ''}", file=sys.stderr)
    return 1 if result.rejected else 0


def _x12_report(data: bytes) -> tuple[bool, list[str]]:
    result = check_interchange(data)
    lines = [f"X12 interchange {result.isa13} version {result.version} from {result.sender[1]} to {result.receiver[1]}"]
    lines += [f"  interchange error: {e}" for e in result.errors]
    for group in result.groups:
        lines.append(f"  group {group.gs01} {group.gs06} ({group.gs08}): {group.status} "
                     f"{len(group.sets)} set(s), {group.accepted} accepted")
        lines += [f"    group error {c}: {GROUP_ERRORS.get(c, '')}" for c in group.codes]
        for txn in group.sets:
            lines.append(f"    set {txn.st01} {txn.st02}: {'accepted' if txn.status == 'A' else 'rejected'}")
            lines += [f"      set error {c}: {SET_ERRORS.get(c, '')}" for c in txn.codes]
            for seg in txn.segments:
                lines.append(f"      segment {seg.tag} at position {seg.position}: {SEGMENT_ERRORS.get(seg.code, seg.code)}")
                lines += [f"        {seg.tag}{el.position:02d} (element {el.reference}): {ELEMENT_ERRORS.get(el.code, el.code)}"
                          f"{' ' + repr(el.data) if el.data else ''}" for el in seg.elements]
    return result.valid, lines


def _edifact_report(data: bytes) -> tuple[bool, list[str]]:
    check = check_edifact(data)
    lines = [f"EDIFACT interchange {check.reference} ({check.syntax.level}) from {':'.join(check.sender)} "
             f"to {':'.join(check.recipient)}"]
    lines += [f"  interchange error {code} at {tag}: {SYNTAX_ERRORS.get(code, '')}" for code, tag in check.errors]
    for message in check.messages:
        lines.append(f"  message {message.reference} {':'.join(message.identifier)}: "
                     f"{'rejected' if message.rejected else 'accepted'}")
        lines += [f"    error {code} at {tag}: {SYNTAX_ERRORS.get(code, '')}" for code, tag in message.errors]
        for position, code, elements in message.segments:
            lines.append(f"    segment at position {position}: {SYNTAX_ERRORS.get(code, code)}")
            lines += [f"      element {p}:{c}: {SYNTAX_ERRORS.get(e, e)}" for p, c, e in elements]
    return check.valid, lines


def cmd_validate(args: argparse.Namespace) -> int:
    data = _read(args.file)
    valid, lines = (_x12_report if standard_of(data, args.file) == "x12" else _edifact_report)(data)
    print("\n".join(lines))
    print(f"{args.file}: {'VALID' if valid else 'INVALID'}")
    return 0 if valid else 1


def cmd_ack(args: argparse.Namespace) -> int:
    data = _read(args.file)
    standard_of(data, args.file)
    store = FileControlNumberStore(args.control_file)
    run_key = f"mlc-ack|{Path(args.file).resolve()}|{hashlib.sha256(data).hexdigest()}"
    standard, ack = acknowledge(data, store, run_key, datetime.now())
    if ack is None:
        kind = "997s" if standard == "x12" else "CONTRLs"
        raise CliError(f"{args.file}: nothing to acknowledge ({kind} are never acknowledged)")
    sys.stdout.buffer.write(ack)
    return 0


def cmd_read_ack(args: argparse.Namespace) -> int:
    data = _read(args.file)
    report = read_acks(data) if standard_of(data, args.file) == "x12" else read_contrl(data)
    print(json.dumps(report, indent=2))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    data = _read(args.file)
    depth = 0
    if standard_of(data, args.file) == "x12":
        opening, closing = {"ISA": 0, "GS": 1, "ST": 2}, {"SE": 2, "GE": 1, "IEA": 0}
        for seg in x12_segments(data):
            depth = opening.get(seg.tag, closing.get(seg.tag, 3))
            elements = " ".join(f"{seg.tag}{i:02d}={v!r}" for i, v in enumerate(seg.elements, 1) if v != "")
            print(f"{'  ' * depth}{seg.index:>5} {seg.tag} {elements}")
    else:
        opening, closing = {"UNB": 0, "UNH": 1}, {"UNT": 1, "UNZ": 0}
        for seg in edifact_segments(data):
            depth = opening.get(seg.tag, closing.get(seg.tag, 2))
            parts = []
            for i, comps in enumerate(seg.elements, 1):
                for j, value in enumerate(comps, 1):
                    if value:
                        parts.append(f"{seg.tag}{i:02d}" + (f".{j}" if len(comps) > 1 else "") + f"={value!r}")
            print(f"{'  ' * depth}{seg.index:>5} {seg.tag} {' '.join(parts)}")
    return 0


COMMANDS = {"render": cmd_render, "validate": cmd_validate, "ack": cmd_ack, "read-ack": cmd_read_ack,
            "inspect": cmd_inspect}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the formats subcommands on the ``mlc`` command's parser."""
    render_p = sub.add_parser("render", help="render records (JSON lines) through a partner mapping")
    render_p.add_argument("mapping", help="a mapping file, or its name under include/mappings (intacct_to_sftp/bills_x12_810)")
    render_p.add_argument("records")
    render_p.add_argument("-o", "--output", help="file to write (default: stdout)")
    render_p.add_argument("--run-key", help="render again with the control numbers of an earlier run key")
    for name, text in (("validate", "check an X12 or EDIFACT file; exit 1 when invalid"),
                       ("ack", "print the 997 or CONTRL for a received file"),
                       ("read-ack", "print a received 997, TA1 or CONTRL as JSON"),
                       ("inspect", "print the segments as an indented tree")):
        sub.add_parser(name, help=text).add_argument("file")
    for name in ("render", "ack"):
        sub.choices[name].add_argument("--control-file", type=Path, default=DEFAULT_STATE,
                                       help=f"control-number state (default {DEFAULT_STATE})")


def run(args: argparse.Namespace) -> int:
    """Run one formats subcommand; bad input becomes one line on stderr and exit code 2."""
    try:
        return COMMANDS[args.command](args)
    except (CliError, FormatError) as exc:
        print(f"mlc {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
