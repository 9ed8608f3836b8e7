"""
### Work a run left for a person (Required Actions)

A run can succeed and still leave something only a person can do: rows of a Stampli file Intacct cannot take
(its error report names each), an acknowledgment a partner owes that is overdue, an acknowledgment that matches
nothing ml-connector sent. The task that finds it mails the alert and reports it on the asset
`mlc://needs-a-person`; this DAG runs on each such report and asks a person, under **Required Actions**, to
acknowledge it: what, where (DAG and run) and what to do. Answer *Handled* once it is dealt with; *Later* keeps
the answer for later (after 7 days without an answer, *Later* is taken). The run that found the work stays green
and is not held up.

A run that failed (a partner's rejecting 997, records that could not be delivered, a system that stopped
answering) is reported here as well, by its own `needs_a_person` task: each failed task, with the error and the
advice its alert mail gave. That run stays red; clear its failed task once the cause is mended.

| task | what it does | when it fails, look at |
|---|---|---|
| `acknowledge` | asks a person to acknowledge each item reported since the last run | nothing to fix here: it waits for an answer |
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG

from mlc.operators.attention import NEEDS_A_PERSON
from mlc.operators.dag_params import task_defaults

ITEMS = """{% for _asset, events in triggering_asset_events.items() %}{% for event in events %}
**{{ event.extra.dag_id }}**, run `{{ event.extra.run_id }}`, task `{{ event.extra.task_id }}`:
{% for item in event.extra["items"] %}
{{ loop.index }}. {{ item.what }}

   *What to do:* {{ item.do }}
{% endfor %}{% endfor %}{% endfor %}"""

with DAG(
    dag_id="mlc_needs_a_person",
    description="Work a run left for a person (rows rejected, acks owed, a failure), under Required Actions",
    doc_md=__doc__,
    schedule=[NEEDS_A_PERSON],  # a run per report of work for a person
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # scheduled on reports, not on time: nothing to catch up
    is_paused_upon_creation=False,  # a report must reach a person without anyone switching this on first
    tags=["ml-connector", "needs-a-person"],
    default_args=task_defaults(retries=2, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=5)),
) as dag:
    HITLOperator(
        task_id="acknowledge",
        subject="ml-connector: {{ triggering_asset_events.values() | map('length') | sum }} report(s) need a person",
        body=ITEMS,
        options=["Handled", "Later"],
        defaults=["Later"],
        response_timeout=timedelta(days=7),
        execution_timeout=None,
    )
