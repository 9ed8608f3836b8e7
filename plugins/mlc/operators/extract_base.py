"""What every extract operator does around its source: take only the exports the run asked for,
work out the window (the run's data interval, or the Params' override, widened by an overlap),
stream the records into staging as JSON lines, and leave an AUDIT line and a small XCom.

A replay of the run extracts the same window again and overwrites its own staged file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from mlc.operators.audit import audit
from mlc.operators.staging import staging_dir, write_chunks

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


class StagedExtractOperator(BaseOperator):
    """Base of the extract operators: a subclass names its ``EXPORTS`` and yields records.

    :param export: what this task extracts (one of the subclass's ``EXPORTS``).
    :param exports: the exports the run asked for (templated, from Params); others are skipped.
    :param window_start: ISO start overriding the data interval (templated).
    :param window_end: ISO end overriding the data interval (templated).
    :param overlap_minutes: widen the window's start by this much (templated).
    """

    EXPORTS: tuple[str, ...] = ()
    template_fields: Sequence[str] = ("exports", "window_start", "window_end", "overlap_minutes")
    ui_color = "#e8f4ea"

    def __init__(self, *, export: str, exports: Any = None, window_start: Any = None, window_end: Any = None,
                 overlap_minutes: Any = 0, **kwargs: Any) -> None:
        if export not in self.EXPORTS:
            raise ValueError(f"export must be one of {self.EXPORTS}, not {export!r}")
        super().__init__(**kwargs)
        self.export, self.exports = export, exports
        self.window_start, self.window_end, self.overlap_minutes = window_start, window_end, overlap_minutes

    def records(self, since: datetime | None, until: datetime | None, overlap: timedelta) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def calls_made(self) -> dict[str, Any]:
        """What the source was asked, for the AUDIT line (requests sent, rate limits met)."""
        return {}

    def cleaned(self) -> list[dict[str, Any]]:
        """Records the source sent with characters that had to be taken out: ``{"object", "key", "fields"}``."""
        return []

    def execute(self, context: Context) -> dict[str, Any]:
        wanted = self.exports if isinstance(self.exports, (list, tuple)) else (
            [e.strip() for e in str(self.exports).split(",")] if self.exports else list(self.EXPORTS))
        if self.export not in wanted:
            raise AirflowSkipException(f"export {self.export!r} was not asked for in this run ({', '.join(wanted)})")
        since, until = extract_window(context, self.window_start, self.window_end)
        overlap = timedelta(minutes=float(self.overlap_minutes or 0))
        staged = staging_dir(context) / f"{self.export}.jsonl"
        count = {"n": 0}

        def lines() -> Iterator[bytes]:
            for record in self.records(since, until, overlap):
                count["n"] += 1
                yield (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()

        sha256, size = write_chunks(staged, lines())
        window = {"start": since.isoformat() if since else None, "end": until.isoformat() if until else None,
                  "overlap_minutes": overlap.total_seconds() / 60}
        for note in self.cleaned():
            audit("record_cleaned", context, logger=self.log, export=self.export, **note,
                  reason="characters XML 1.0 forbids (control characters) were removed; the rest of the record is kept")
        audit("records_staged", context, logger=self.log, export=self.export, records=count["n"], file=str(staged),
              sha256=sha256, bytes=size, window=window, **self.calls_made())
        return {"uri": str(staged), "export": self.export, "records": count["n"], "sha256": sha256, "window": window}
