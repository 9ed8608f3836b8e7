"""The formats half of the ``mlc`` command, for people onboarding a partner.

  mlc render MAPPING [RECORDS.jsonl] [-o FILE] render records (one JSON object a line; default: the
                                               mapping's samples) as MAPPING says
  mlc validate FILE                            readable report; exit 1 when the file is invalid
  mlc ack FILE                                 the 997 (X12) or CONTRL (EDIFACT) for FILE, on stdout
  mlc read-ack FILE                            a received 997 / TA1 / CONTRL as JSON; exit 1 on invalid codes
  mlc inspect FILE                             segments as an indented tree with element positions
  mlc partner check PROFILE                    check a partner profile; render each of its documents from samples

Bad input of any kind: one clear line on stderr and exit code 2, never a traceback. Files larger than
MLC_MAX_INPUT_MB (default 64) are refused. What is printed never carries a raw control, escape or
bidi character: they are written as escapes (\\x1b).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from mlc.formats.acknowledge import acknowledge_into
from mlc.formats.acknowledge import standard_of as standard
from mlc.formats.control_numbers import ControlNumberStore, FileControlNumberStore
from mlc.formats.edifact import iter_segments as edifact_segments
from mlc.formats.edifact_ack import SYNTAX_ERRORS, InterchangeCheck, MessageResult, check_edifact, read_contrl
from mlc.formats.errors import FormatError
from mlc.formats.mapping import load_mapping, mapping_path, samples_path
from mlc.formats.partner import load_partner
from mlc.formats.partner_cli import add_command as add_partner_command
from mlc.formats.partner_cli import check_partner, profile_file
from mlc.formats.render import render
from mlc.formats.x12 import iter_segments as x12_segments
from mlc.formats.x12_ack import ELEMENT_ERRORS, GROUP_ERRORS, SEGMENT_ERRORS, SET_ERRORS, read_acks
from mlc.formats.x12_check import GroupResult, InterchangeResult, SetResult, check_interchange

DEFAULT_STATE = Path(os.environ.get("MLC_CONTROL_FILE", Path.home() / ".mlc" / "control-numbers.json"))


class CliError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width), line and paragraph
# separators: what could move the cursor, recolour the terminal or reorder what a person reads.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                     "\u2060-\u206f\ufeff\ufff9-\ufffb]")


def terminal_safe(text: str) -> str:
    """``text`` with every character that could act on a terminal written as an escape (``\\x1b``)."""
    return _UNSAFE.sub(_escape, text)


def say(text: str, *, err: bool = False) -> None:
    print(terminal_safe(text), file=sys.stderr if err else sys.stdout)


def max_input_bytes() -> int:
    """The largest EDI file the tools read (``MLC_MAX_INPUT_MB``, default 64). validate, ack and inspect read
    a file a chunk at a time, so the limit bounds their time; read-ack reads an acknowledgment whole."""
    try:
        return int(float(os.environ.get("MLC_MAX_INPUT_MB") or 64) * 1024 * 1024)
    except ValueError:
        raise CliError(f"MLC_MAX_INPUT_MB must be a number of megabytes, not {os.environ['MLC_MAX_INPUT_MB']!r}"
                       ) from None


def _open(path: str) -> IO[bytes]:
    """The file, opened to be read a chunk at a time, once its size is known to be within the limit."""
    limit = max_input_bytes()
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the caller closes it
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    if size > limit:
        handle.close()
        raise CliError(f"{path}: larger than the {limit // (1024 * 1024)} MiB the tools read (MLC_MAX_INPUT_MB)")
    return handle


def _head(handle: IO[bytes], path: str) -> str:
    """The file's standard, by its first bytes; the file is left at its start."""
    head = handle.read(512)
    handle.seek(0)
    return standard_of(head, path)


def _read(path: str) -> bytes:
    with _open(path) as handle:
        return handle.read()


def standard_of(data: bytes, path: str) -> str:
    try:
        return standard(data)
    except FormatError as exc:
        raise CliError(f"{path}: {exc}") from None


def _records(path: str) -> Iterator[dict[str, Any]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, streamed line by line
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CliError(f"{path}:{number}: not UTF-8 (byte {exc.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CliError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
            except (ValueError, RecursionError) as exc:  # a number of 100,000 digits; arrays nested too deep
                reason = "nested too deep" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
                raise CliError(f"{path}:{number}: not usable JSON: {reason}") from None
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


def control_store(args: argparse.Namespace) -> tuple[ControlNumberStore, str]:
    """Where ``render`` and ``ack`` take control numbers, and how to say it: the store the ``mlc`` command put on
    ``args`` (the DAGs' own, when ``MLC_STATE_URL`` is set: the two never give a partner the same number twice),
    else the file ``--control-file`` (default ``~/.mlc/control-numbers.json``): the CLI's own numbers."""
    store = getattr(args, "store", None)
    if store is not None:
        return store, "the DAGs' state (MLC_STATE_URL)"
    path = args.control_file or DEFAULT_STATE
    return FileControlNumberStore(path), f"{path} (the CLI's own, apart from the DAGs'; MLC_STATE_URL shares theirs)"


def cmd_render(args: argparse.Namespace) -> int:
    mapping = load_mapping(mapping_file(args.mapping))
    if args.records is None:  # the sample records the mapping names
        samples = samples_path(mapping)
        if samples is None:
            raise CliError(f"{args.mapping}: names no sample records (samples:); give a records file")
        args.records = str(samples)
    store, numbered = control_store(args)
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
        say(f"rejected record {item['record']}{key} field {item['field']!r}: {item['error']}", err=True)
    say(f"rendered {result.records} record(s), {result.bytes} bytes, sha256 {result.sha256}"
        f"{', ' + str(len(result.rejected)) + ' rejected' if result.rejected else ''}; control numbers from {numbered}",
        err=True)
    return 1 if result.rejected else 0


def _x12_report(handle: IO[bytes]) -> tuple[bool, Iterator[str]]:
    """Each set's verdict as soon as the set is read (the file is read a chunk at a time), each group's after
    its sets, the interchange's errors last."""
    lines: list[str] = []
    current: list[GroupResult | None] = [None]

    def start(result: InterchangeResult) -> None:
        say(f"X12 interchange {result.isa13} version {result.version} from {result.sender[1]} to {result.receiver[1]}")

    def group_header(group: GroupResult) -> None:
        if current[0] is not group:
            say(f"  group {group.gs01} {group.gs06} ({group.gs08})")
            current[0] = group

    def take_set(group: GroupResult, txn: SetResult) -> None:
        group_header(group)
        say(f"    set {txn.st01} {txn.st02}: {'accepted' if txn.status == 'A' else 'rejected'}")
        for c in txn.codes:
            say(f"      set error {c}: {SET_ERRORS.get(c, '')}")
        for seg in txn.segments:
            say(f"      segment {seg.tag} {_where(seg.index, seg.position)}: {SEGMENT_ERRORS.get(seg.code, seg.code)}")
            for el in seg.elements:
                reference = f" (element {el.reference})" if el.reference else ""
                data = f": {el.data!r}" if el.data else ""
                say(f"        {seg.tag}{el.position:02d}{reference}: {ELEMENT_ERRORS.get(el.code, el.code)}{data}")

    def take_group(group: GroupResult) -> None:
        group_header(group)
        say(f"  group {group.gs01} {group.gs06}: {group.status}, {group.received} set(s), {group.accepted} accepted")
        for c in group.codes:
            say(f"    group error {c}: {GROUP_ERRORS.get(c, '')}")

    result = check_interchange(handle, on_start=start, on_set=take_set, on_group=take_group)
    lines += [f"  interchange error (TA1 note {e.note}): {e}" for e in result.errors]
    return result.valid, iter(lines)


def _edifact_report(handle: IO[bytes]) -> tuple[bool, Iterator[str]]:
    """Each message's verdict as soon as the message is read, the interchange's errors last."""

    def start(check: InterchangeCheck) -> None:
        say(f"EDIFACT interchange {check.reference} ({check.syntax.level}) from {':'.join(check.sender)} "
            f"to {':'.join(check.recipient)}")

    def take(message: MessageResult) -> None:
        say(f"  message {message.reference} {':'.join(message.identifier)}: "
            f"{'rejected' if message.rejected else 'accepted'}")
        for code, tag in message.errors:
            say(f"    error {code} at {tag}: {SYNTAX_ERRORS.get(code, '')}")
        for position, code, elements in message.segments:
            tag, index, values = message.found.get(position, ("?", 0, {}))
            say(f"    segment {tag} {_where(index, position, 'message')}: {SYNTAX_ERRORS.get(code, code)}")
            for p, c, e in elements:
                value = values.get((p, c), "")
                say(f"      {tag}{p:02d}.{c}: {SYNTAX_ERRORS.get(e, e)}" + (f": {value!r}" if value else ""))

    check = check_edifact(handle, on_start=start, on_message=take)
    return check.valid, iter([f"  interchange error {code} at {tag}: {SYNTAX_ERRORS.get(code, '')}"
                              for code, tag in check.errors])


def _where(index: int, position: int, within: str = "set") -> str:
    """Where a segment is, numbered as ``mlc inspect`` numbers it (in the file) and as an acknowledgment does (in
    its set or message, the header being 1)."""
    return (f"#{index} ({position} in its {within})" if index
            else f"(missing; would be {position} in its {within})")


def cmd_validate(args: argparse.Namespace) -> int:
    with _open(args.file) as handle:
        valid, lines = (_x12_report if _head(handle, args.file) == "x12" else _edifact_report)(handle)
    for line in lines:
        say(line)
    say(f"{args.file}: {'VALID' if valid else 'INVALID'}")
    return 0 if valid else 1


def cmd_ack(args: argparse.Namespace) -> int:
    with _open(args.file) as handle:
        _head(handle, args.file)
        digest = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
        handle.seek(0)
        store, numbered = control_store(args)
        run_key = f"mlc-ack|{Path(args.file).resolve()}|{digest.hexdigest()}"
        standard, written = acknowledge_into(handle, sys.stdout.buffer, store, run_key, datetime.now())
    if not written:
        kind = "997s" if standard == "x12" else "CONTRLs"
        raise CliError(f"{args.file}: nothing to acknowledge ({kind} are never acknowledged)")
    say(f"control numbers from {numbered}", err=True)
    return 0


def cmd_read_ack(args: argparse.Namespace) -> int:
    """The ack as JSON, or with ``--summary`` as lines a person reads; exit 1 when it holds codes outside their
    code lists (``problems``)."""
    data = _read(args.file)
    report = read_acks(data) if standard_of(data, args.file) == "x12" else read_contrl(data)
    if args.summary:
        for line in ack_summary(report):
            say(line)
    else:
        print(json.dumps(report, indent=2))
    for problem in report.get("problems") or []:
        say(f"mlc read-ack: invalid: {problem}", err=True)
    return 1 if report.get("problems") else 0


def ack_summary(report: dict[str, Any]) -> Iterator[str]:
    """What an acknowledgment says, a line per answer: of which interchange, group, set or message, accepted or
    not, and each error with its segment, element and value."""
    yield (f"{report['standard']} acknowledgment {report['interchange_control_number']} from {report['sender']} "
           f"to {report['receiver']}")
    for ack in report.get("interchange_acks") or []:
        if report["standard"] == "X12":  # TA1
            yield (f"  interchange {ack['control_number']} of {ack.get('date')} {ack.get('time')}: "
                   f"{ {'A': 'accepted', 'E': 'accepted with errors', 'R': 'rejected'}.get(ack['status'], ack['status'])}"
                   f" (note {ack.get('note_code')})")
            continue
        error = f": {ack['error']['code']} {ack['error']['text']}" if ack.get("error") else ""
        yield f"  interchange {ack['control_number']}: {ack['action_text']}{error}" + (
            f" at {ack['segment']}" if ack.get("segment") else "")
        for message in ack.get("messages") or []:
            yield f"    message {message['reference']} {message.get('type') or ''}: {message['action_text']}"
            for seg in message.get("segment_errors") or []:
                what = f": {seg['error']['code']} {seg['error']['text']}" if seg.get("error") else ""
                yield f"      segment {seg['position']} in the message{what}"
                for el in seg.get("elements") or []:
                    yield (f"        element {el['position']}.{el.get('component') or 1}: "
                           f"{el['error']['code']} {el['error']['text']}" if el.get("error") else
                           f"        element {el['position']}.{el.get('component') or 1}")
    for group in report.get("group_acks") or []:
        yield (f"  group {group['functional_id']} {group['control_number']}: {group['status_text']} "
               f"({group.get('sets_accepted')} of {group.get('sets_received')} set(s) accepted)")
        for error in group.get("errors") or []:
            yield f"    group error {error['code']}: {error['text']}"
        for txn in group.get("sets") or []:
            yield f"    set {txn['transaction_set']} {txn['control_number']}: {txn['status_text']}"
            for error in txn.get("errors") or []:
                yield f"      set error {error['code']}: {error['text']}"
            for seg in txn.get("segment_errors") or []:
                yield f"      segment {seg['segment']} {seg['position']} in its set: {seg['code']} {seg['text']}"
                for el in seg.get("elements") or []:
                    value = f": {el['data']!r}" if el.get("data") else ""
                    reference = f" (element {el['reference']})" if el.get("reference") else ""
                    yield f"        {seg['segment']}{int(el['position']):02d}{reference}: {el['code']} {el['text']}{value}"
    for problem in report.get("problems") or []:
        yield f"  invalid: {problem}"


def cmd_inspect(args: argparse.Namespace) -> int:
    with _open(args.file) as handle:
        (_inspect_x12 if _head(handle, args.file) == "x12" else _inspect_edifact)(handle)
    return 0


def _inspect_x12(handle: IO[bytes]) -> None:
    opening, closing = {"ISA": 0, "GS": 1, "ST": 2}, {"SE": 2, "GE": 1, "IEA": 0}
    for seg in x12_segments(handle):
        depth = opening.get(seg.tag, closing.get(seg.tag, 3))
        elements = " ".join(f"{seg.tag}{i:02d}={v!r}" for i, v in enumerate(seg.elements, 1) if v != "")
        say(f"{'  ' * depth}{seg.index:>5} {seg.tag} {elements}")


def _inspect_edifact(handle: IO[bytes]) -> None:
    opening, closing = {"UNB": 0, "UNH": 1}, {"UNT": 1, "UNZ": 0}
    for seg in edifact_segments(handle):
        depth = opening.get(seg.tag, closing.get(seg.tag, 2))
        parts = []
        for i, comps in enumerate(seg.elements, 1):
            for j, value in enumerate(comps, 1):
                if value:
                    parts.append(f"{seg.tag}{i:02d}" + (f".{j}" if len(comps) > 1 else "") + f"={value!r}")
        say(f"{'  ' * depth}{seg.index:>5} {seg.tag} {' '.join(parts)}")


def cmd_partner(args: argparse.Namespace) -> int:
    """``mlc partner check PROFILE``: exit 0 when every document renders valid, 1 when one does not."""
    partner = load_partner(profile_file(args.profile))
    return 0 if check_partner(partner, say) else 1


COMMANDS = {"render": cmd_render, "validate": cmd_validate, "ack": cmd_ack, "read-ack": cmd_read_ack,
            "inspect": cmd_inspect, "partner": cmd_partner}


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the formats subcommands on the ``mlc`` command's parser."""
    render_p = sub.add_parser("render", help="render records (JSON lines) through a partner mapping")
    render_p.add_argument("mapping", help="a mapping file, or its name under include/mappings (intacct_to_sftp/bills_x12_810)")
    render_p.add_argument("records", nargs="?",
                           help="JSON lines of source records (default: the sample records the mapping names)")
    render_p.add_argument("-o", "--output", help="file to write (default: stdout)")
    render_p.add_argument("--run-key", help="render again with the control numbers of an earlier run key")
    for name, text in (("validate", "check an X12 or EDIFACT file; exit 1 when invalid"),
                       ("ack", "print the 997 or CONTRL for a received file"),
                       ("read-ack", "print a received 997, TA1 or CONTRL as JSON"),
                       ("inspect", "print the segments as an indented tree")):
        sub.add_parser(name, help=text).add_argument("file")
    sub.choices["read-ack"].add_argument("--summary", action="store_true",
                                         help="print lines a person reads instead of JSON")
    add_partner_command(sub)
    for name in ("render", "ack"):
        sub.choices[name].add_argument("--control-file", type=Path, default=None,
                                       help="control numbers from this file instead of the DAGs' state "
                                            f"(MLC_STATE_URL); without either, {DEFAULT_STATE}")


def run(args: argparse.Namespace) -> int:
    """Run one formats subcommand; bad input becomes one line on stderr and exit code 2."""
    try:
        return COMMANDS[args.command](args)
    except (CliError, FormatError) as exc:
        say(f"mlc {args.command}: {exc}", err=True)
        return 2
    except BrokenPipeError:
        return 0
    except (ArithmeticError, LookupError, ValueError, RecursionError, MemoryError) as exc:
        # A reader's gap the cases above do not name: still one line, never a traceback at the analyst.
        target = getattr(args, "file", None) or getattr(args, "records", None) or ""
        say(f"mlc {args.command}: {target}: cannot be read: {type(exc).__name__}: {str(exc)[:200]}", err=True)
        return 2
