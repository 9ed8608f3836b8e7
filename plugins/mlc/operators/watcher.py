"""The run's verdict when a task with ``trigger_rule="all_done"`` is the last one.

Airflow decides a run's state from its leaf tasks. ``poll_acks`` / ``acknowledge`` run whatever happened
upstream (acks of earlier files arrive in their own time), so when they succeed the run would show
green although an extract or a delivery failed: an AP clerk would believe the invoices went out.
The watcher (Airflow's documented pattern) is downstream of every task, runs only when one failed,
and fails the run. It sends no alert of its own: the failed task already did.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException


class RunFailedWatcher(BaseOperator):
    """Fail the run when any task of it failed, whatever the leaf tasks did."""

    ui_color = "#f4cccc"

    def __init__(self, *, task_id: str = "watcher", **kwargs: Any) -> None:
        kwargs.update(trigger_rule="one_failed", retries=0, on_failure_callback=None, on_success_callback=None)
        super().__init__(task_id=task_id, **kwargs)

    def execute(self, context: Context) -> None:
        raise AirflowFailException(
            "A task of this run failed (its log and alert say what and why); this run is marked failed so that "
            "it is not mistaken for a complete delivery. Clear the failed task to replay it.")


def watch(dag: Any) -> RunFailedWatcher:
    """Put a watcher downstream of every task of ``dag``."""
    tasks = list(dag.tasks)
    watcher = RunFailedWatcher(dag=dag)
    for task in tasks:
        task >> watcher
    return watcher
