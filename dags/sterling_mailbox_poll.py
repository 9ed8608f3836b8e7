"""
### Sterling B2Bi mailboxes → SFTP (or a local folder)

Every 5 minutes (set `MLC_STERLING_POLL_CRON` for another cadence, e.g. `*/2 * * * *`), new
messages in the Sterling mailboxes named by the `mailboxes` Param (partners' 997s, 820s, 855s...)
are taken out, staged and handed on: to `sftp_default` under `from_sterling/` by default, or to a
local folder (`handoff: local`). Each message id is recorded once handed on, so none is handed on
twice, whatever the retries.

Why a DAG of its own and not a deferrable sensor: the work is a short list-and-copy on a cadence,
not a wait for one event; a small scheduled DAG keeps each poll visible in the UI as a run with its
AUDIT lines (`message_extracted` per message), is paused independently of the daily send, and needs
no triggerer. `max_active_runs=1` keeps two polls from overlapping.

| task | what it does | when it fails, look at |
|---|---|---|
| `poll_mailboxes` | lists each mailbox, reads every message not handed on yet, hands it on, records its id | the `sterling_default` connection; the `content_path` extra if downloads fail (Sterling documents no download API) |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed | the task that failed before them |
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from mlc.operators.dag_params import schedule, task_defaults
from mlc.operators.sterling_poll import SterlingPollOperator
from mlc.operators.watcher import watch

with DAG(
    dag_id="sterling_mailbox_poll",
    description="New inbound messages in Sterling B2Bi mailboxes handed on, each exactly once",
    doc_md=__doc__,
    # A poll, not a window: each run takes what is waiting.
    schedule=schedule("sterling_mailbox_poll", os.environ.get("MLC_STERLING_POLL_CRON", "*/5 * * * *"), trigger=True),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # a missed poll has nothing of its own: the next one takes every waiting message
    max_active_runs=1,
    tags=["ml-connector", "sterling", "sftp"],
    default_args=task_defaults(retries=2, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=30)),
    params={
        "mailboxes": Param(["/MLC/Inbound"], type="array", items={"type": "string"}, title="Mailboxes to poll",
                           description="Sterling mailbox paths; each new message is handed on once."),
        "handoff": Param("sftp", type="string", enum=["sftp", "local"], title="Hand messages on to",
                         description="sftp: the folder below on sftp_default; local: a path on the worker."),
        "handoff_dir": Param("from_sterling", type="string", title="SFTP folder or local path",
                             description="Where each message's content is written, under its Sterling name."),
    },
) as dag:
    SterlingPollOperator(task_id="poll_mailboxes", mailboxes="{{ params.mailboxes | join(',') }}",
                         handoff="{{ params.handoff }}", handoff_dir="{{ params.handoff_dir }}")
    watch(dag)  # a failure goes under Required Actions, and the run is marked failed
