"""
### Stampli exports → Sage Intacct AP bills and payments

Every 15 minutes, the CSV files Stampli drops on its SFTP folder (connection `stampli_sftp`) are
picked up and posted into Sage Intacct: approved invoices as AP bills (`outbound/invoices/`),
payments as AP payments applied to their bills (`outbound/payments/`). Column names, encoding,
delimiter and formats are set per customer in `include/mappings/stampli_to_intacct/*_feed.yaml`.

| task | what it does | when it fails, look at |
|---|---|---|
| `pick_up_<feed>` | takes the files whose size and mtime held still between two looks; skips a file (by sha256) already processed | the `stampli_sftp` connection and host key; a refused file name in the AUDIT lines |
| `post_<feed>` | checks every row (vendor, GL account, dimensions, amounts, dates, currency), posts bills / payments once each, writes rejected rows to `errors/` with a Reason column, archives the file | the last log line: which file has rows not posted yet, and Intacct's error |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed | the task that failed before them |

Every row gets an AUDIT line (`row_posted`, `row_already_posted`, `row_rejected`, `row_skipped`,
`row_unfinished`) with the file, row, vendor, invoice, amount, GL account, controlid and RECORDNO.

**Trigger with config**: `file_name` (+ `file_feed`) to process one named file again, even from the
archive; `rerun_from` / `rerun_to` to process the archived files of a period again. Nothing is
posted twice: bills are keyed on vendor + invoice number, payments on vendor + reference.

**Replay**: clearing `post_<feed>` posts what is still missing of the staged files; a file whose
posting stopped midway (Intacct down, session lost) stays in the folder and the next run finishes it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from mlc.operators.dag_params import schedule, steps, task_defaults
from mlc.operators.sftp_pickup import SftpPickupOperator
from mlc.operators.stampli_post import StampliPostOperator
from mlc.operators.watcher import watch

FEEDS = {"invoices": "stampli_to_intacct/invoices_feed", "payments": "stampli_to_intacct/payments_feed"}

with DAG(
    dag_id="stampli_to_intacct",
    description="Approved Stampli invoices and payments posted into Sage Intacct",
    doc_md=__doc__,
    # A poll, not a window: each run takes the files that are there; Stampli exports about every 15 minutes.
    schedule=schedule("stampli_to_intacct", "*/15 * * * *", trigger=True),  # MLC_SCHEDULE__STAMPLI_TO_INTACCT
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # a missed poll has nothing of its own to catch up: the next run takes every file waiting
    max_active_runs=1,  # two runs must never work on the same file at once
    tags=["ml-connector", "stampli", "intacct", "sftp"],
    default_args=task_defaults(retries=2, retry_delay=timedelta(minutes=2), execution_timeout=timedelta(minutes=60)),
    params={
        "file_name": Param(None, type=["null", "string"], title="Process this file only",
                           description="A file name in the export folder or its archive; re-processed even if done."),
        "file_feed": Param("invoices", type="string", enum=list(FEEDS), title="The named file's feed",
                           description="Which export the file above is (its columns and how it posts)."),
        "rerun_from": Param(None, type=["null", "string"], format="date-time", title="Re-run archived files from",
                            description="Archived files last changed from this moment are processed again; rows "
                                        "already posted are found in Intacct and not posted twice."),
        "rerun_to": Param(None, type=["null", "string"], format="date-time", title="Re-run archived files until",
                          description="Empty: until now."),
        **{f"{feed}_feed": Param(name, type="string", title=f"Feed settings for {feed}",
                                 description="A file under include/mappings, without .yaml")
           for feed, name in FEEDS.items()},
    },
) as dag:
    previous = None
    for feed in FEEDS:
        with steps(feed, f"{feed}: pick up Stampli's files, post them into Intacct") as steps_of_feed:
            pick_up = SftpPickupOperator(
                task_id=f"pick_up_{feed}",
                feed=f"{{{{ params.{feed}_feed }}}}",
                file_name=f"{{{{ (params.file_name or '') if params.file_feed == '{feed}' else '' }}}}",
                only_named="{{ params.file_name or '' }}",
                rerun_from="{{ params.rerun_from or '' }}",
                rerun_to="{{ params.rerun_to or '' }}",
                trigger_rule="none_failed",  # payments wait for a failed invoice run, not for one with nothing to do
            )
            post = StampliPostOperator(
                task_id=f"post_{feed}",
                feed=f"{{{{ params.{feed}_feed }}}}",
                source_task_id=f"pick_up_{feed}",
                pool="intacct_default",
            )
            pick_up >> post
        if previous is not None:
            previous >> steps_of_feed
        previous = steps_of_feed
    watch(dag)  # a failure goes under Required Actions, and the run is marked failed
