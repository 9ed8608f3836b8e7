"""The audit trail: one ``AUDIT <sentence> {json}`` line in the task log per thing touched.

Task logs are ml-connector's audit trail (DESIGN.md, "Audit trail"). Every line starts with a short sentence a
person reads (``AUDIT file delivered: MLC_810_20261130_000000001.x12 to outbound (47 records, ISA13 000000001)``),
then the record: ``event``, ``dag_id``, ``run_id`` (and ``task_id``, ``try_number``) plus the keys of what was
touched, serialised as compact, key-sorted JSON so that the lines can be grepped and parsed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

AUDIT_PREFIX = "AUDIT "
_log = logging.getLogger("mlc.audit")


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def audit_record(event: str, context: Mapping[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """Build the audit dict for ``event`` in the task ``context``; ``fields`` name what was touched."""
    record: dict[str, Any] = {"event": event}
    if context:
        ti = context.get("ti")
        dag_run = context.get("dag_run")
        record["dag_id"] = getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None)
        record["run_id"] = getattr(dag_run, "run_id", None) or context.get("run_id")
        record["task_id"] = getattr(ti, "task_id", None)
        record["try_number"] = getattr(ti, "try_number", None)
    record.update(fields)
    return record


#: what is named first in an event's sentence: the first of these fields the record has
_SUBJECT = ("file", "name", "key", "vendor", "mailbox", "table", "remote_path", "scope", "connection", "export",
            "mapping", "destination")
#: counts worth a person's glance, in this order
_COUNTS = ("records", "rows", "posted", "rejected", "skipped", "already_sent", "waived", "adjusted", "messages")


def sentence(record: Mapping[str, Any]) -> str:
    """The line's opening for a person: what happened (the event in words), to what, where, how many, and the
    control numbers or the reason when there are some."""
    words = str(record.get("event", "")).replace("_", " ")
    subject = next((str(record[k]) for k in _SUBJECT if record.get(k) not in (None, "")), "")
    text = f"{words}: {subject}" if subject else words
    where = record.get("remote_dir") or _folder(record.get("remote_path"), subject) or _short(record.get("destination"),
                                                                                             subject)
    if where:
        text += f" to {where}" if "deliver" in words or "upload" in words else f" at {where}"
    details = [f"{record[k]:,} {k.replace('_', ' ')}" if isinstance(record[k], int) else f"{record[k]} {k}"
               for k in _COUNTS if isinstance(record.get(k), (int, str)) and record.get(k) not in ("", 0)
               and not isinstance(record.get(k), bool)]
    control = record.get("control")
    if isinstance(control, Mapping):
        details += [f"{k.upper()} {control[k]}" for k in ("isa13", "unb") if control.get(k)]
    details += [f"{k} {record[k]}" for k in ("status", "until", "field") if record.get(k) not in (None, "")]
    reason = record.get("error") or record.get("reason") or record.get("cause")
    if reason:
        details.append(str(reason)[:160])
    return f"{text} ({', '.join(details)})" if details else text


def _folder(remote_path: Any, subject: str) -> str:
    if not isinstance(remote_path, str) or "/" not in remote_path or remote_path == subject:
        return ""
    return remote_path.rsplit("/", 1)[0]


def _short(destination: Any, subject: str) -> str:
    return destination if isinstance(destination, str) and destination != subject else ""


def audit(
    event: str,
    context: Mapping[str, Any] | None,
    *,
    logger: logging.Logger | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write one ``AUDIT <sentence> {json}`` line and return the record (for XCom summaries and tests)."""
    record = audit_record(event, context, **fields)
    (logger or _log).info(
        "%s%s %s", AUDIT_PREFIX, sentence(record),
        json.dumps(record, sort_keys=True, separators=(",", ":"), default=_default)
    )
    return record


def parse_audit_line(line: str) -> dict[str, Any] | None:
    """Return the record of a log line that holds an AUDIT entry, else ``None``.

    Accepts console lines (``... AUDIT <sentence> {json} [logger] loc=...``), lines without the sentence
    (written before it was), and the JSON-lines task log files of Airflow 3, where the entry is the escaped
    ``event`` of the outer JSON object.
    """
    at = line.find(AUDIT_PREFIX)
    if at < 0:
        return None
    decoder = json.JSONDecoder()
    start = line.find('{"', at)
    while start >= 0:  # the record is the first JSON object after the sentence that decodes and has an event
        try:
            record, _ = decoder.raw_decode(line, start)
        except json.JSONDecodeError:
            start = line.find('{"', start + 1)
            continue
        if isinstance(record, dict) and "event" in record:
            return record
        start = line.find('{"', start + 1)
    try:
        outer = json.loads(line)
    except json.JSONDecodeError:
        return None
    return parse_audit_line(str(outer.get("event", ""))) if isinstance(outer, dict) else None


SUMMARY_PREFIX = "SUMMARY "


def log_summary(context: Mapping[str, Any], result: Any) -> None:
    """Every task's last line (``post_execute`` in every DAG's default_args): what it did, in a sentence, outside
    the log groups Airflow folds away, so whoever opens the log sees it without scrolling or unfolding."""
    ti, task = context.get("ti"), context.get("task")
    logger = getattr(task, "log", None) or _log  # the task's own logger: its lines are the task log's
    logger.info("%s%s", SUMMARY_PREFIX, summary_line(getattr(ti, "task_id", "task"), result))


def summary_line(task_id: str, result: Any) -> str:
    """``<task> done: <what> (<counts>)`` from a task's result (its XCom)."""
    if isinstance(result, Mapping):
        body = sentence({"event": "", **result}).lstrip(": ").strip()
        return f"{task_id} done: {body}" if body else f"{task_id} done"
    if isinstance(result, (list, tuple)):
        return f"{task_id} done: {len(result)} item(s)"
    return f"{task_id} done" + (f": {result}" if result not in (None, "") else "")