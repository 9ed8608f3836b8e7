"""Trigger Params the DAGs share, so each means the same thing in every DAG's trigger form."""

from __future__ import annotations

from airflow.sdk import Param


def window_params(period: str, overlap_minutes: int, overlap_reason: str) -> dict[str, Param]:
    """``window_start`` / ``window_end`` overriding the data interval, and the start's overlap."""
    return {
        "window_start": Param(None, type=["null", "string"], format="date-time", title="Window start (UTC)",
                              description=f"Empty: the run's data interval ({period})."),
        "window_end": Param(None, type=["null", "string"], format="date-time", title="Window end (UTC)"),
        "overlap_minutes": Param(overlap_minutes, type="integer", minimum=0, maximum=1440, title="Overlap (minutes)",
                                 description=overlap_reason),
    }


def send_params(what: str = "files already delivered") -> dict[str, Param]:
    """``force`` (send again what already arrived) and ``dry_run`` (render and stage, send nothing)."""
    return {
        "force": Param(False, type="boolean", title=f"Re-send {what}"),
        "dry_run": Param(False, type="boolean", title="Dry run: render and stage, deliver nothing"),
    }
