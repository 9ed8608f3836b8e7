"""The audit trail: one ``AUDIT {json}`` line in the task log per thing touched.

Task logs are ml-connector's audit trail (DESIGN.md, "Audit trail"). Every line carries
``event``, ``dag_id``, ``run_id`` (and ``task_id``, ``try_number``) plus the keys of what was
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


def audit(
    event: str,
    context: Mapping[str, Any] | None,
    *,
    logger: logging.Logger | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write one ``AUDIT {json}`` line and return the record (for XCom summaries and tests)."""
    record = audit_record(event, context, **fields)
    (logger or _log).info(
        "%s%s", AUDIT_PREFIX, json.dumps(record, sort_keys=True, separators=(",", ":"), default=_default)
    )
    return record


def parse_audit_line(line: str) -> dict[str, Any] | None:
    """Return the record of a log line that holds an AUDIT entry, else ``None``.

    Accepts console lines (``... AUDIT {json} [logger] loc=...``) and the JSON-lines task log
    files of Airflow 3, where the entry is the escaped ``event`` of the outer JSON object.
    """
    at = line.find(AUDIT_PREFIX + "{")
    if at < 0:
        return None
    try:
        record, _ = json.JSONDecoder().raw_decode(line, at + len(AUDIT_PREFIX))
        return record if isinstance(record, dict) else None
    except json.JSONDecodeError:
        try:
            outer = json.loads(line)
        except json.JSONDecodeError:
            return None
        return parse_audit_line(str(outer.get("event", ""))) if isinstance(outer, dict) else None
