"""
### Sage Intacct → IBM Sterling B2B Integrator

Every day at 04:00 UTC, vendors changed in Sage Intacct become (or update) trading partners in
Sterling B2Bi, and the AP bills of the day before go as X12 810 documents (850 with the
`intacct_to_sterling/bills_x12_850` mapping) into each partner's mailbox (`/<VENDORID>/Inbox` by
default), where the customer's routing rules pick them up. Inbound messages are taken out of
Sterling by the separate DAG `sterling_mailbox_poll`.

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_vendors`, `extract_bills` | read Intacct (pool `intacct_default`), stage JSON lines | the `intacct_default` connection |
| `sync_partners` | creates or updates a trading partner per vendor changed in the window, and creates the missing partner of any bill's vendor; AUDIT `partner_synced` / `partner_rejected` with Sterling's id; **fails after the others are synced when a partner could not be created** | the `sterling_default` connection; a rejected vendor's missing e-mail or phone |
| `upload_bills` | one interchange per bill, uploaded as `810_<vendor>_<recordno>_<hash>.x12` into the partner's mailbox (created first when missing: B2Bi gives a new partner only `/<partner>`); AUDIT `document_uploaded` with the message id; runs even when some partners failed, holding their bills back (`document_pending`); **fails naming each bill that could not go** | the last log line lists the documents not uploaded |
| `watcher` | runs only when a task failed, and fails the run | the task that failed before it |

**Trigger with config**: `window_start` / `window_end`, `bills_mapping`, `community`,
`mailbox_template`, `force` (upload again documents already delivered), `dry_run` (render, send
nothing, create no partner).

**Catching up**: each export reads from its watermark (how far its records were delivered) to the
end of the run's interval, so missed, paused or failed runs are caught up by the next one (AUDIT
`catching_up`); the mark moves only once everything the extract fed went, nothing pending.

**Replay**: clear `upload_bills`: documents already in their mailbox are recognised (ledger, then
the mailbox's own listing by name) and not sent twice; only the missing ones go. A bill held back
because its partner failed goes once `sync_partners` is cleared and succeeds (clear it with downstream);
to give up on a bill or a vendor on purpose, trigger with `waive` listing its RECORDID or VENDORID.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from mlc.operators.dag_params import send_params, task_defaults, waive_param, window_params
from mlc.operators.intacct_extract import IntacctExtractOperator
from mlc.operators.sterling_partners import SterlingPartnersOperator
from mlc.operators.sterling_upload import SterlingUploadOperator
from mlc.operators.watcher import watch

with DAG(
    dag_id="intacct_to_sterling",
    description="Vendors as trading partners and AP bills as X12 810/850 from Sage Intacct into Sterling B2Bi",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # no back-fill run per missed day: the next run reads from the watermark and catches up
    max_active_runs=1,
    tags=["ml-connector", "intacct", "sterling", "x12"],
    default_args=task_defaults(retries=3, retry_delay=timedelta(minutes=2),
                               max_retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=2)),
    params={
        **window_params("the day before the run", 15, "Widen the window's start; Intacct timestamps carry no zone."),
        "bills_mapping": Param("intacct_to_sterling/bills_x12_810", type="string", title="Mapping for bills",
                               enum=["intacct_to_sterling/bills_x12_810", "intacct_to_sterling/bills_x12_850"]),
        "community": Param("MLC Suppliers", type="string", title="Sterling community for new partners"),
        "mailbox_template": Param("/{partner}/Inbox", type="string", title="Partner mailbox ({partner} = VENDORID)"),
        **send_params("documents already uploaded"),
        **waive_param(),
    },
) as dag:
    window = {"window_start": "{{ params.window_start or '' }}", "window_end": "{{ params.window_end or '' }}",
              "overlap_minutes": "{{ params.overlap_minutes }}"}
    vendors = IntacctExtractOperator(task_id="extract_vendors", export="vendors", exports="vendors", **window)
    bills = IntacctExtractOperator(task_id="extract_bills", export="bills", exports="bills", **window)
    partners = SterlingPartnersOperator(task_id="sync_partners", vendors_task_id="extract_vendors",
                                        bills_task_id="extract_bills", community="{{ params.community }}",
                                        dry_run="{{ params.dry_run }}", waive="{{ params.waive }}")
    # Bills go even when some partners could not be created (theirs wait); the watcher keeps such a run red.
    upload = SterlingUploadOperator(task_id="upload_bills", source_task_id="extract_bills",
                                    mapping="{{ params.bills_mapping }}", mailbox_template="{{ params.mailbox_template }}",
                                    force="{{ params.force }}", dry_run="{{ params.dry_run }}",
                                    partners_task_id="sync_partners", trigger_rule="all_done",
                                    waive="{{ params.waive }}")
    [vendors, bills] >> partners >> upload
    watch(dag)
