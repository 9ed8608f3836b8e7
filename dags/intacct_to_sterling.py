"""
### Sage Intacct → IBM Sterling B2B Integrator

One DAG per profile (`include/partners/<partner>.yaml`) taking part in `intacct_to_sterling`, id
`intacct_to_sterling__<partner>`. On its schedule (daily at 04:00 UTC when it names none), the vendors
it serves that changed in Sage Intacct become (or update) trading partners in Sterling B2Bi, with the
profile's `sterling_partner` fields laid over the vendor's on every sync, and their AP bills go as the
profile's document (X12 810, or 850 with `intacct_to_sterling/bills_x12_850`) into each partner's
mailbox (the profile's `mailbox_template`, `/<VENDORID>/Inbox` by default), where the customer's
routing rules pick them up. A profile that lists `vendors` serves those; one that lists none serves
every other vendor of the same Intacct company and Sterling, so each vendor's bills go once. Inbound
messages are taken out of Sterling by the separate DAG `sterling_mailbox_poll`.

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_vendors`, `extract_bills` | read Intacct (the pool named after the Intacct connection), stage the served vendors' records as JSON lines | the profile's Intacct connection |
| `sync_partners` | creates or updates a trading partner per vendor changed in the window, and creates the missing partner of any bill's vendor; AUDIT `partner_synced` / `partner_rejected` with Sterling's id; **fails after the others are synced when a partner could not be created** | the profile's Sterling connection; a rejected vendor's missing e-mail or phone |
| `upload_bills` | one interchange per bill, uploaded as `810_<vendor>_<recordno>_<hash>.x12` into the partner's mailbox (created first when missing: B2Bi gives a new partner only `/<partner>`); AUDIT `document_uploaded` with the message id; runs even when some partners failed, holding their bills back (`document_pending`); **fails naming each bill that could not go** | the last log line lists the documents not uploaded |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed (upload_bills runs whatever happened) | the task that failed before them |

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

from airflow.sdk import DAG, Param

from mlc.formats.partner import vendor_scope
from mlc.operators.dag_params import mapping_param, send_params, task_defaults, waive_param, window_params
from mlc.operators.intacct_extract import IntacctExtractOperator
from mlc.operators.partner_dags import broken_profile_dags, partner_dag, profiles
from mlc.operators.sterling_partners import SterlingPartnersOperator
from mlc.operators.sterling_upload import SterlingUploadOperator
from mlc.operators.watcher import watch

INTEGRATION = "intacct_to_sterling"
DEFAULTS = task_defaults(retries=3, retry_delay=timedelta(minutes=2), max_retry_delay=timedelta(minutes=20),
                         execution_timeout=timedelta(hours=2))

found = profiles(INTEGRATION)
for partner, part in found.parts:
    conns = part.connections
    only, except_ = vendor_scope(part, found.loaded)
    bills_mapping = part.documents["bills"]
    with DAG(
        **partner_dag(INTEGRATION, partner, part, doc=__doc__, default_cron="0 4 * * *",
                      tags=["intacct", "sterling", "x12"],
                      what="vendors as trading partners and AP bills as X12 810/850 into Sterling B2Bi"),
        catchup=False,  # no back-fill run per missed period: the next run reads from the watermark and catches up
        default_args=DEFAULTS,
        params={
            **window_params("the period before the run", 15,
                            "Widen the window's start; Intacct timestamps carry no zone."),
            "bills_mapping": mapping_param("bills", bills_mapping),
            "community": Param(part.sterling_partner.get("community", "MLC Suppliers"), type="string",
                               title="Sterling community for new partners",
                               description="The community a vendor's new trading partner joins in Sterling."),
            "mailbox_template": Param(part.folders["mailbox_template"], type="string",
                                      title="Partner mailbox ({partner} = VENDORID)",
                                      description="Where each vendor's documents go; the mailbox is created when "
                                                  "missing."),
            **send_params("documents already uploaded"),
            **waive_param(),
        },
    ) as dag:
        window = {"window_start": "{{ params.window_start or '' }}", "window_end": "{{ params.window_end or '' }}",
                  "overlap_minutes": "{{ params.overlap_minutes }}", "intacct_conn_id": conns["intacct_conn_id"],
                  "pool": part.pool, "vendor_ids": only, "except_vendor_ids": except_}
        vendors = IntacctExtractOperator(task_id="extract_vendors", export="vendors", exports="vendors", **window)
        bills = IntacctExtractOperator(task_id="extract_bills", export="bills", exports="bills", **window)
        partners = SterlingPartnersOperator(
            task_id="sync_partners", vendors_task_id="extract_vendors", bills_task_id="extract_bills",
            community="{{ params.community }}", sterling_conn_id=conns["sterling_conn_id"],
            intacct_conn_id=conns["intacct_conn_id"],
            partner_fields={k: v for k, v in part.sterling_partner.items() if k != "community"},  # a Param
            dry_run="{{ params.dry_run }}", waive="{{ params.waive }}")
        # Bills go even when some partners could not be created (theirs wait); the watcher keeps such a run red.
        upload = SterlingUploadOperator(
            task_id="upload_bills", source_task_id="extract_bills", mapping="{{ params.bills_mapping }}",
            mailbox_template="{{ params.mailbox_template }}", sterling_conn_id=conns["sterling_conn_id"],
            interchange=part.interchange, force="{{ params.force }}", dry_run="{{ params.dry_run }}",
            partners_task_id="sync_partners", trigger_rule="all_done", waive="{{ params.waive }}")
        [vendors, bills] >> partners >> upload
        watch(dag)

broken_profile_dags(INTEGRATION, found, DEFAULTS)
