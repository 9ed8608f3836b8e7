"""
### Sage Intacct → Snowflake

Every night at 02:00 UTC, the vendors, AP bills with their lines, AP payments with the bills they
pay, GL accounts and dimensions changed in Sage Intacct the day before land in Snowflake tables that
analysts can join (`vendor`, `ap_bill`, `ap_bill_item`, `ap_payment`, `ap_payment_detail`,
`gl_account`, `department`, `location`, `class`, and one per configured custom dimension), by MERGE
on `recordno`: no duplicates, a replayed window changes nothing. A bill (or payment) loaded again
brings all its lines: a line removed in Intacct is marked `_deleted`, so the lines add up to the bill. Every table keeps `_synced_at`, `_deleted` and `_raw` (the whole
Intacct record as JSON, so a custom field is never lost).

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_<export>` | reads Intacct (pool `intacct_default`), stages JSON lines | the `intacct_default` connection |
| `load_snowflake` | one session, one transaction: staging tables loaded by PUT + COPY, one MERGE per table, deletions marked; AUDIT `table_loaded` per table (inserted, updated, marked deleted, window) | the `snowflake_default` connection (key-pair); a refused new field names the table and field |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed | the task that failed before them |

**Trigger with config**: `window_start` / `window_end`; `tables` to load only some; `full_refresh`
to reload one table whole (its rows no longer in Intacct are marked `_deleted`); `new_fields`
(`add` a new Intacct field as a column, or `refuse` the load); `capture_deletes` (AUDITHISTORY,
needs the audit-trail permission); `merge_via` (`sql_api` runs the MERGE through Snowflake's SQL API).

**Catching up**: each export reads from its watermark (how far its records were delivered) to the
end of the run's interval, so missed, paused or failed runs are caught up by the next one (AUDIT
`catching_up`); the mark moves only once everything the extract fed went, nothing pending.

**Replay**: clear `load_snowflake` (or the whole run): the MERGE is idempotent; a failure before
the commit leaves every table as it was.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from mlc.operators.dag_params import schedule, steps, task_defaults, window_params
from mlc.operators.intacct_extract import IntacctExtractOperator
from mlc.operators.snowflake_load import SnowflakeLoadOperator
from mlc.operators.watcher import watch

TABLES = ["vendor", "ap_bill", "ap_bill_item", "ap_payment", "ap_payment_detail", "gl_account", "department",
          "location", "class"]
#: custom dimensions with a table of their own, e.g. MLC_CUSTOM_DIMENSIONS=PROJECT,TERRITORY
CUSTOM = [d.strip().upper() for d in os.environ.get("MLC_CUSTOM_DIMENSIONS", "").split(",") if d.strip()]
DIMENSIONS = ["DEPARTMENT", "LOCATION", "CLASS", *CUSTOM]
EXPORTS = {"vendors": ["vendor"], "bills": ["ap_bill", "ap_bill_item"], "payments": ["ap_payment", "ap_payment_detail"],
           "gl_accounts": ["gl_account"], "dimensions": [d.lower() for d in DIMENSIONS]}

with DAG(
    dag_id="intacct_to_snowflake",
    description="Vendors, AP bills, payments, GL accounts and dimensions from Sage Intacct into Snowflake by MERGE",
    doc_md=__doc__,
    schedule=schedule("intacct_to_snowflake", "0 2 * * *"),  # MLC_SCHEDULE__INTACCT_TO_SNOWFLAKE
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # no back-fill run per missed night: the next run reads from the watermark and catches up
    max_active_runs=1,
    tags=["ml-connector", "intacct", "snowflake"],
    default_args=task_defaults(retries=3, retry_delay=timedelta(minutes=2),
                               max_retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=3)),
    params={
        **window_params("the day before the run", 60, "Widen the window's start; Intacct timestamps carry no zone."),
        "tables": Param(TABLES + [d.lower() for d in CUSTOM], type="array",
                        items={"type": "string", "enum": TABLES + [d.lower() for d in CUSTOM]}, title="Tables",
                        description="What this run loads; one left out is skipped in this run only."),
        "full_refresh": Param(None, type=["null", "string"], enum=[None, *TABLES, *(d.lower() for d in CUSTOM)],
                              title="Reload one table whole",
                              description="Empty: every table loads what changed. A table named here is read "
                                          "whole and MERGEd (rows no longer in Intacct are marked deleted)."),
        "new_fields": Param("add", type="string", enum=["add", "refuse"], title="A new Intacct field",
                            description="add: a column is added for it (AUDIT columns_added); refuse: the load "
                                        "fails, naming it, until a person decides."),
        "capture_deletes": Param(False, type="boolean", title="Mark deletions from AUDITHISTORY",
                                 description="On: records deleted in Intacct in the window are marked deleted."),
        "merge_via": Param("connector", type="string", enum=["connector", "sql_api"], title="Run the MERGE through",
                           description="connector: the Snowflake provider's connection; sql_api: Snowflake's SQL "
                                       "REST API (key-pair JWT)."),
        "extra_fields": Param({}, type="object", title="More Intacct fields by object",
                              description='e.g. {"APBILL": ["CUSTOMFIELD"]}: loaded as columns per new_fields'),
    },
) as dag:
    load = SnowflakeLoadOperator(
        task_id="load_snowflake",
        sources={**{export: f"extract_{export}" for export in EXPORTS}, "deletes": "extract_deletes"},
        tables="{{ params.tables | join(',') }}", dimensions=DIMENSIONS, new_fields="{{ params.new_fields }}",
        full_refresh="{{ params.full_refresh or '' }}", merge_via="{{ params.merge_via }}",
        trigger_rule="none_failed_min_one_success",  # the exports not asked for are skipped, not missing
    )
    skipped_when_unneeded = "one extract per Intacct object; one the tables asked for do not need is skipped"
    with steps("extracts", skipped_when_unneeded) as extracts:
        for export, tables in EXPORTS.items():
            # a table reloaded whole reads its object from the beginning; the others read the window
            whole = " or ".join(f"params.full_refresh == '{t}'" for t in tables)
            IntacctExtractOperator(
                task_id=f"extract_{export}", export=export,
                exports=f"{{{{ '{export}' if (params.tables | select('in', {tables}) | list) else 'none' }}}}",
                window_start=f"{{{{ '2000-01-01T00:00:00Z' if ({whole}) else (params.window_start or '') }}}}",
                window_end=f"{{{{ '2100-01-01T00:00:00Z' if ({whole}) else (params.window_end or '') }}}}",
                overlap_minutes="{{ params.overlap_minutes }}", dimensions=DIMENSIONS,
                extra_fields="{{ params.extra_fields | tojson }}")
        IntacctExtractOperator(
            task_id="extract_deletes", export="deletes",
            exports="{{ 'deletes' if params.capture_deletes else 'none' }}",
            window_start="{{ params.window_start or '' }}", window_end="{{ params.window_end or '' }}",
            overlap_minutes="{{ params.overlap_minutes }}")
    extracts >> load
    watch(dag)  # a failure goes under Required Actions, and the run is marked failed
