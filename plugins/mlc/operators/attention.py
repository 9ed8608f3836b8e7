"""A run that succeeded but left work for a person (a Stampli file's rejected rows, an acknowledgment overdue or
matching nothing) shows where Airflow 3 shows work for people: under Required Actions.

The task that found the work (through :func:`mlc.operators.alerts.push_alerts`) adds an event to the
``mlc://needs-a-person`` asset, with what and what to do in its extra; ``mlc_needs_a_person``, scheduled on that
asset, asks a person to acknowledge each (a human-in-the-loop task naming the DAG, run and items). The run that
found it stays green and is not held up; the alert mail goes out as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator, Context

#: the asset whose events are work for a person
NEEDS_A_PERSON = Asset(name="mlc_needs_a_person", uri="mlc://needs-a-person", group="ml-connector")


def attention_alias(task: BaseOperator) -> AssetAlias:
    return AssetAlias(name=f"mlc__needs_a_person__{task.dag_id}__{task.task_id}")


def declare(task: BaseOperator) -> None:
    """Give a task that may find work for a person (built in a DAG) the alias it reports it through."""
    if task.has_dag():
        task.add_outlets([attention_alias(task)])


def ask_a_person(context: Context, items: Sequence[Mapping[str, Any]]) -> None:
    """Report ``items`` (``{"what", "do"}``) on the needs-a-person asset, when the running task declared it."""
    task = context.get("task")
    if task is None or not items:
        return
    alias = attention_alias(task)
    if not any(isinstance(o, AssetAlias) and o.name == alias.name for o in task.outlets or ()):
        return
    ti = context["ti"]
    context["outlet_events"][alias].add(NEEDS_A_PERSON, extra={
        "dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
        "items": [{"what": str(item.get("what", "")), "do": str(item.get("do", ""))} for item in items]})
