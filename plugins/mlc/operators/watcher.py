"""A run's verdict, and its failures put before a person.

Airflow decides a run's state from its leaf tasks. ``poll_acks`` / ``acknowledge`` run whatever happened
upstream (acks of earlier files arrive in their own time), so when they succeed the run would show
green although an extract or a delivery failed: an AP clerk would believe the invoices went out.
The watcher (Airflow's documented pattern) runs only when a task failed, and fails the run. It sends no
alert of its own: the failed task already did.

Before it, ``needs_a_person`` puts the run's failures where Airflow 3 shows work for people: each failed task
(what failed, why and what to do, as its alert said it) goes on the ``mlc://needs-a-person`` asset, and
``mlc_needs_a_person`` asks a person under Required Actions. It must be its own task: Airflow keeps the asset
events of a task that succeeded only, and the watcher's job is to fail. Every scheduled DAG has the pair.

``needs_a_person`` hears of every task's failure with as few edges as the graph allows: Airflow's
``one_failed`` fires on an upstream that failed *or* is ``upstream_failed``, and a task whose trigger rule turns a
failure upstream into ``upstream_failed`` (``all_success``, ``none_failed``, ``none_failed_min_one_success``)
passes the news on. So it hangs below the tasks whose failure nothing downstream passes on (the deliveries,
``sync_partners``, the all_done tasks) and not below every extract and render, which keeps the graph readable.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from mlc.operators.alerts import FAILURE_XCOM_KEY, RETRIES_EXHAUSTED
from mlc.operators.attention import ask_a_person, declare

#: trigger rules under which a failed upstream makes the task ``upstream_failed``: the failure travels on
PASSES_FAILURE_ON = frozenset({"all_success", "none_failed", "none_failed_min_one_success"})


class RunFailedWatcher(BaseOperator):
    """Fail the run when any task of it failed, whatever the leaf tasks did."""

    ui_color = "#f4cccc"

    def __init__(self, *, task_id: str = "watcher", **kwargs: Any) -> None:
        kwargs.update(trigger_rule="all_success", retries=0, on_failure_callback=None, on_success_callback=None)
        super().__init__(task_id=task_id, **kwargs)

    def execute(self, context: Context) -> None:
        raise AirflowFailException(
            "A task of this run failed (its log and alert say what and why); this run is marked failed so that "
            "it is not mistaken for a complete delivery. Clear the failed task to replay it.")


class FailuresToAPersonOperator(BaseOperator):
    """Report each failed task of the run on the needs-a-person asset, as its failure alert described it."""

    ui_color = "#fce8b2"

    def __init__(self, *, task_id: str = "needs_a_person", **kwargs: Any) -> None:
        kwargs.update(trigger_rule="one_failed")
        super().__init__(task_id=task_id, **kwargs)
        declare(self)  # the alias its reports go through, as every operator that asks a person declares it

    def execute(self, context: Context) -> list[str]:
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(task_id for task_id, state in states.items() if state == "failed")
        items = []
        for task_id in failed:
            said = ti.xcom_pull(task_ids=task_id, key=FAILURE_XCOM_KEY) or {}
            items.append({"what": said.get("what") or f"Task {task_id} failed (its log says why).",
                          "do": said.get("do") or RETRIES_EXHAUSTED})
        ask_a_person(context, items)
        self.log.info("Reported %s failed task(s) under Required Actions: %s", len(failed), ", ".join(failed))
        return failed


def heard_from(tasks: list[Any]) -> list[Any]:
    """The tasks the watcher must be downstream of so that every task's failure reaches it: those without a
    downstream task that passes a failure on. Any other task's failure travels down such a task, and on until it
    reaches one of these (a sink of the DAG is one), so these are enough, and none of them can be left out."""
    return [task for task in tasks
            if not any(getattr(down.trigger_rule, "value", down.trigger_rule) in PASSES_FAILURE_ON
                       for down in task.downstream_list)]


def watch(dag: Any) -> RunFailedWatcher:
    """Put ``needs_a_person`` below ``dag``'s tasks, hearing of every failure (:func:`heard_from`), and the
    watcher below it (``all_success``: it runs, and fails the run, exactly when a failure was reported; it is
    ``upstream_failed``, which fails the run as well, if the report could not be made)."""
    tasks = list(dag.tasks)
    report = FailuresToAPersonOperator(dag=dag)
    for task in heard_from(tasks):
        task >> report
    watcher = RunFailedWatcher(dag=dag)
    report >> watcher
    return watcher
