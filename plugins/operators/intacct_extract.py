"""Extract from Sage Intacct into staging: one export (vendors, bills, GL accounts, dimensions) as
JSON lines, streamed page by page, for the render task to read.

The window is the run's data interval, unless the trigger's Params override it, widened at the
start by ``overlap_minutes`` (Intacct timestamps have no zone; the overlap absorbs skew). A
replay of the run extracts the same window again and overwrites its own staged file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk import BaseOperator, Context

from hooks.intacct import IntacctHook
from operators.audit import audit
from operators.staging import staging_dir, write_chunks

EXPORTS = ("vendors", "bills", "gl_accounts", "dimensions")
DIMENSIONS = ("DEPARTMENT", "LOCATION", "CLASS")
DEFAULT_WINDOW = timedelta(days=7)


def parse_moment(value: Any, name: str) -> datetime | None:
    """An ISO date or date-time from a Param (naive means UTC); ``None`` when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"Param {name}: {value!r} is not an ISO date or date-time (e.g. 2026-11-16T06:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def extract_window(context: Context, start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
    """The window to extract: the Params' override, else the run's data interval."""
    since = parse_moment(start, "window_start") or context.get("data_interval_start")
    until = parse_moment(end, "window_end") or context.get("data_interval_end")
    if since is None and until is None:
        # A manual run without a data interval: the week before it, as a scheduled run would take.
        dag_run = context.get("dag_run")
        until = getattr(dag_run, "run_after", None) or datetime.now(timezone.utc)
        since = until - DEFAULT_WINDOW
    if since is not None and until is not None and since >= until:
        raise ValueError(f"The window is empty: start {since.isoformat()} is not before end {until.isoformat()}")
    return since, until


class IntacctExtractOperator(BaseOperator):
    """Stage one export of Intacct records changed in the window as JSON lines.

    :param export: ``vendors``, ``bills`` (with their lines), ``gl_accounts`` or ``dimensions``.
    :param exports: the exports the run asked for (templated, from Params); others are skipped.
    :param window_start: ISO start overriding the data interval (templated).
    :param window_end: ISO end overriding the data interval (templated).
    :param overlap_minutes: widen the window's start by this much (templated).
    :param intacct_conn_id: Intacct connection (templated).
    """

    template_fields: Sequence[str] = ("exports", "window_start", "window_end", "overlap_minutes", "intacct_conn_id")
    ui_color = "#e8f4ea"

    def __init__(self, *, export: str, exports: Any = None, window_start: Any = None, window_end: Any = None,
                 overlap_minutes: Any = 0, intacct_conn_id: str = IntacctHook.default_conn_name, **kwargs: Any) -> None:
        if export not in EXPORTS:
            raise ValueError(f"export must be one of {EXPORTS}, not {export!r}")
        kwargs.setdefault("pool", "intacct_default")
        super().__init__(**kwargs)
        self.export, self.exports = export, exports
        self.window_start, self.window_end, self.overlap_minutes = window_start, window_end, overlap_minutes
        self.intacct_conn_id = intacct_conn_id

    def _records(self, hook: IntacctHook, since: datetime | None, until: datetime | None,
                 overlap: timedelta) -> Iterator[dict[str, Any]]:
        if self.export == "vendors":
            yield from hook.iter_changed("VENDOR", since=since, until=until, overlap=overlap)
        elif self.export == "bills":
            yield from hook.iter_bills(since=since, until=until, overlap=overlap)
        elif self.export == "gl_accounts":
            yield from hook.iter_query("GLACCOUNT")  # a reference list: always whole
        else:
            for name in DIMENSIONS:  # one shape for every dimension: its code, name and parent
                for record in hook.iter_query(name):
                    yield {"DIMENSION": name, "RECORDNO": record.get("RECORDNO"), "ID": record.get(f"{name}ID"),
                           "NAME": record.get("TITLE") or record.get("NAME"), "PARENTID": record.get("PARENTID"),
                           "STATUS": record.get("STATUS"), "WHENMODIFIED": record.get("WHENMODIFIED")}

    def execute(self, context: Context) -> dict[str, Any]:
        wanted = self.exports if isinstance(self.exports, (list, tuple)) else (
            [e.strip() for e in str(self.exports).split(",")] if self.exports else list(EXPORTS))
        if self.export not in wanted:
            raise AirflowSkipException(f"export {self.export!r} was not asked for in this run ({', '.join(wanted)})")
        since, until = extract_window(context, self.window_start, self.window_end)
        overlap = timedelta(minutes=float(self.overlap_minutes or 0))
        hook = IntacctHook(self.intacct_conn_id)
        staged = staging_dir(context) / f"{self.export}.jsonl"
        count = {"n": 0}

        def lines() -> Iterator[bytes]:
            for record in self._records(hook, since, until, overlap):
                count["n"] += 1
                yield (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()

        sha256, size = write_chunks(staged, lines())
        window = {"start": since.isoformat() if since else None, "end": until.isoformat() if until else None,
                  "overlap_minutes": overlap.total_seconds() / 60}
        audit("records_staged", context, logger=self.log, export=self.export, records=count["n"], file=str(staged), sha256=sha256,
              bytes=size, window=window, requests=hook.requests_sent)
        return {"uri": str(staged), "export": self.export, "records": count["n"], "sha256": sha256, "window": window}
