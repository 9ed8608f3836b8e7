"""What every extract operator does around its source: take only the exports the run asked for,
work out the window, stream the records into staging as JSON lines, and leave an AUDIT line and a
small XCom.

The window starts at the watermark of the export's scope (DAG, export, connection: how far its
records are known to have been delivered), widened by an overlap, and ends at the end of the run's
data interval (or at the moment a run without one was started). So a run after a scheduler outage,
a paused DAG or failed nights reads everything since the last delivery, and says so in a
``catching_up`` AUDIT line; a run of the first time reads its own interval and starts the mark at its
beginning, so that if it fails the next run reads its records again. Params ``window_start`` /
``window_end`` override the window (re-send a period) and then the mark is neither read nor moved.
The mark itself moves only when the delivery or load fed by this extract has succeeded
(:mod:`mlc.operators.progress`).

A replay of the run extracts the same window again and overwrites its own staged file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from mlc.operators.audit import audit
from mlc.operators.lineage import ReportsLineage, dataset, file_dataset
from mlc.operators.staging import staging_dir, write_chunks
from mlc.state.progress import Watermarks, watermark_scope

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
        until = run_end(context)
        since = until - DEFAULT_WINDOW
    if since is not None and until is not None and since >= until:
        raise ValueError(f"The window is empty: start {since.isoformat()} is not before end {until.isoformat()}")
    return since, until


def run_end(context: Context) -> datetime:
    """Where a run's window ends: its data interval's end, else the moment it was started for."""
    dag_run = context.get("dag_run")
    return (context.get("data_interval_end") or getattr(dag_run, "run_after", None)
            or datetime.now(timezone.utc))


def window_from_mark(context: Context, mark: datetime | None) -> tuple[datetime, datetime]:
    """[the mark, the run's end); without a mark (the first run): the run's interval, else the week before it."""
    until = run_end(context)
    since = mark or context.get("data_interval_start") or until - DEFAULT_WINDOW
    return min(since, until), until


class StagedExtractOperator(ReportsLineage, BaseOperator):
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

    #: the source system's scheme in lineage datasets (``intacct``, ``exactonline``)
    lineage_scheme = "source"

    @property
    def source_namespace(self) -> str:
        return f"{self.lineage_scheme}://{self.source_conn_id}"

    def source_objects(self) -> list[str]:
        """What the export reads in the source system, as lineage names it (default: the export's name)."""
        return [self.export]

    def records(self, since: datetime | None, until: datetime | None, overlap: timedelta) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def calls_made(self) -> dict[str, Any]:
        """What the source was asked, for the AUDIT line (requests sent, rate limits met)."""
        return {}

    @property
    def source_conn_id(self) -> str:
        """The source connection, part of the watermark's scope (two companies, two marks)."""
        return ""

    def cleaned(self) -> list[dict[str, Any]]:
        """Records the source sent with characters that had to be taken out: ``{"object", "key", "fields"}``."""
        return []

    def execute(self, context: Context) -> dict[str, Any]:
        wanted = self.exports if isinstance(self.exports, (list, tuple)) else (
            [e.strip() for e in str(self.exports).split(",")] if self.exports else list(self.EXPORTS))
        if self.export not in wanted:
            raise AirflowSkipException(f"export {self.export!r} was not asked for in this run ({', '.join(wanted)})")
        watermark: dict[str, Any] | None = None
        if parse_moment(self.window_start, "window_start") or parse_moment(self.window_end, "window_end"):
            since, until = extract_window(context, self.window_start, self.window_end)  # on purpose: no mark
        else:
            ti = context["ti"]
            scope = watermark_scope(ti.dag_id, self.export, self.source_conn_id)
            marks = Watermarks()
            mark = marks.get(scope)
            since, until = window_from_mark(context, mark)
            watermark = {"scope": scope, "until": until.isoformat()}
            if mark is None:  # the first run: what came before its window is not ours; a failure starts here again
                marks.advance(scope, since, ti.run_id)
                audit("watermark_started", context, logger=self.log, export=self.export, scope=scope,
                      mark=since.isoformat())
            interval_start = context.get("data_interval_start")
            if mark is not None and interval_start is not None and mark < interval_start:
                audit("catching_up", context, logger=self.log, export=self.export, scope=scope,
                      mark=mark.isoformat(), interval_start=interval_start.isoformat(),
                      reason="records changed since the last delivery are read too: runs that were missed, paused "
                             "or failed since then are caught up by this one")
        overlap = timedelta(minutes=overlap_minutes(self.overlap_minutes))
        staged = staging_dir(context) / f"{self.export}.jsonl"
        count = {"n": 0}

        def lines() -> Iterator[bytes]:
            if since is not None and until is not None and since >= until:
                return  # everything up to this run's end was delivered already (a later run moved the mark)
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
        self.lineage = ([dataset(self.source_namespace, name) for name in self.source_objects()],
                        [file_dataset(str(staged))])
        return {"uri": str(staged), "export": self.export, "records": count["n"], "sha256": sha256, "window": window,
                "watermark": watermark}


#: the most a window's start may be widened (a day), as the form's Param allows
MAX_OVERLAP_MINUTES = 1440


def overlap_minutes(value: Any) -> float:
    """The ``overlap_minutes`` Param as minutes, refused (not clamped) when it is not 0 to a day."""
    try:
        minutes = float(value or 0)
    except (TypeError, ValueError):
        raise AirflowFailException(f"overlap_minutes must be a number of minutes, not {value!r}") from None
    if not 0 <= minutes <= MAX_OVERLAP_MINUTES:
        raise AirflowFailException(f"overlap_minutes must be between 0 and {MAX_OVERLAP_MINUTES} (a day), not "
                                   f"{value!r}: widen the window with window_start instead")
    return minutes
