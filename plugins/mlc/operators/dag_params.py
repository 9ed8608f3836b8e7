"""What the DAGs share: trigger Params, so each means the same thing in every DAG's trigger form, and the
task defaults (owner, alerts, retries with exponential backoff)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Param, TaskGroup
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

from mlc.operators.alerts import alert_callbacks
from mlc.operators.audit import log_summary


def task_defaults(*, retries: int, retry_delay: timedelta, execution_timeout: timedelta,
                  max_retry_delay: timedelta | None = None) -> dict[str, Any]:
    """Every DAG's ``default_args``: a person is told what failed and what to do (operators/alerts.py), tasks
    retry with exponential backoff, and each ends its log with one line saying what it did."""
    defaults: dict[str, Any] = {"owner": "ml-connector", **alert_callbacks(), "retries": retries,
                                "retry_delay": retry_delay, "retry_exponential_backoff": True,
                                "execution_timeout": execution_timeout,
                                "post_execute": log_summary}  # each task's last line says what it did
    if max_retry_delay is not None:
        defaults["max_retry_delay"] = max_retry_delay
    return defaults


def window_params(period: str, overlap_minutes: int, overlap_reason: str) -> dict[str, Param]:
    """``window_start`` / ``window_end`` overriding the data interval, and the start's overlap."""
    return {
        "window_start": Param(None, type=["null", "string"], format="date-time", title="Window start (UTC)",
                              description=f"Empty: the run's data interval ({period})."),
        "window_end": Param(None, type=["null", "string"], format="date-time", title="Window end (UTC)",
                            description="Empty: the end of the run's data interval (or now, for a manual run)."),
        "overlap_minutes": Param(overlap_minutes, type="integer", minimum=0, maximum=1440, title="Overlap (minutes)",
                                 description=overlap_reason),
    }


def send_params(what: str = "files already delivered") -> dict[str, Param]:
    """``force`` (send again what already arrived) and ``dry_run`` (render and stage, send nothing)."""
    return {
        "force": Param(False, type="boolean", title=f"Re-send {what}",
                       description=f"On: {what} go again, and records the partner already has in that version too "
                                   "(the ledgers normally keep anything from going twice)."),
        "dry_run": Param(False, type="boolean", title="Dry run: render and stage, deliver nothing",
                         description="On: the files are rendered and staged (see the render task's log and XCom) "
                                     "but nothing is sent and no watermark moves."),
    }


def mapping_param(document: str, mapping: str) -> Param:
    """``<document>_mapping``: a drop-down of the mappings that render the same records as ``mapping`` (beside it
    under include/mappings, the same ``samples:``), ``mapping`` the default, each shown with its description."""
    from mlc.formats.mapping import alternatives

    choices = alternatives(mapping)
    return Param(mapping, type="string", enum=list(choices), title=f"Mapping for {document}",
                 values_display={name: f"{name.rsplit('/', 1)[-1]}: {text}" if text else name
                                 for name, text in choices.items()},
                 description=f"How {document} are written for this partner: one of the layouts under "
                             "include/mappings that render these records (default: the partner profile's).")


def waive_param() -> dict[str, Param]:
    """``waive``: keys of records a person decided not to send; each is logged, and it stops holding the run red."""
    return {"waive": Param([], type="array", items={"type": "string"}, title="Waive records (their keys)",
                           description="Records that cannot be delivered stay pending and fail every run until "
                                       "they go. List a record's key here (as the alert names it) to skip it on "
                                       "purpose; the AUDIT line record_waived keeps the decision.")}


def schedule(dag_id: str, cron: str, timezone: str = "UTC", *, trigger: bool = False
             ) -> CronDataIntervalTimetable | CronTriggerTimetable | None:
    """The DAG's timetable: ``cron`` in ``timezone``, unless the deployment sets ``MLC_SCHEDULE__<DAG_ID>``
    (upper case, e.g. ``MLC_SCHEDULE__INTACCT_TO_SNOWFLAKE="0 3 * * *"``, or ``"30 6 * * 1-5 Europe/Amsterdam"``
    with a time zone, or ``none`` to run only when triggered). A DAG that reads a period of data gets an
    interval timetable; a poller (``trigger``) fires at each tick. A value that is not a cron fails the parse
    with the variable's name, as a typo should, rather than leave the DAG on a cadence nobody chose."""
    name = "MLC_SCHEDULE__" + re.sub(r"[^A-Za-z0-9]", "_", dag_id).upper()
    setting = os.environ.get(name, "").strip()
    if setting:
        if setting.lower() in ("none", "off", "manual"):
            return None
        parts = setting.split()
        cron, timezone = (" ".join(parts[:-1]), parts[-1]) if len(parts) == 6 else (setting, "UTC")
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ValueError(f"{name}={setting!r}: not a cron (minute hour day month weekday [time zone])")
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{name}={setting!r}: {timezone!r} is not a time zone") from exc
    timetable = CronTriggerTimetable if trigger else CronDataIntervalTimetable
    return timetable(cron, timezone=timezone)


def steps(name: str, what: str) -> TaskGroup:
    """A box in the graph around one document's (or feed's) tasks, which keep their ids (``extract_bills``,
    not ``bills.extract_bills``): XCom pulls, ``mlc_resend``, alerts and the runbooks name them as before, and
    the graph shows one box per document a run sends, folded or opened."""
    return TaskGroup(group_id=name, prefix_group_id=False, tooltip=what)
