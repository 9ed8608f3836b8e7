"""
### Exact Online → warehouse ERP over SFTP

Every day at 05:00 UTC, what changed in Exact Online the day before (purchase invoices with their
lines, supplier payments; suppliers, GL accounts and their classification mappings, cost centres
and cost units when asked for) is extracted, rendered through the ERP's mappings
(`include/mappings/exact_online_to_sftp/`) and delivered to its SFTP inbound folder.

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_<export>` | reads Exact Online (pool `exact_online_default`: one caller per division, pages in order, within the rate limit), stages JSON lines | the log's last line; "run `mlc exact-auth`" means the token chain must be renewed by a person |
| `render_<export>` | renders the mapping, leaving out records the ERP already has in that version; a record that cannot be rendered gets a `record_rejected` AUDIT line | the mapping and the rejected record's key and field |
| `deliver_<export>` | uploads as `.name.part`, checks the size, renames; skips a file already delivered; records what arrived and moves the watermark; **fails after delivering when records are pending** | the `sftp_default` connection: host key, login, folder, disk space; the pending records named in its last line |
| `acknowledge` | for each delivered X12 / EDIFACT file the ERP moved to its processed folder, writes a 997 / CONTRL into `acks/` | the processed folder Param |

**Trigger with config**: `window_start` / `window_end` to re-send another period; `exports` to
choose what to send; `*_mapping` for another layout (CSV, X12 810/820, EDIFACT INVOIC,
fixed-width); `force` to re-send files and records already delivered; `dry_run` to render and stage only.

**Catching up**: each export reads from its watermark (how far its records were delivered) to the
end of the run's interval, so the next run catches up missed, paused or failed runs (AUDIT
`catching_up`); a run without a data interval reads from the mark to now. The mark moves only after
the delivery succeeded with nothing pending. A record already received in the same version is not
sent again (`already_sent`), whatever windows overlap.

**Pending records**: a record that cannot be rendered (`record_rejected`: its key, field and why)
does not stop the others; `deliver_<export>` then fails naming it, the mark stays, and every later
run tries it again until it goes. Fix it in the source, or trigger with `waive` listing its key
(`record_waived` keeps the decision).

**Replay**: clear `deliver_<export>` to re-send the staged file; clear `extract_<export>` with
downstream to extract the same window again (same records, same bytes, same control numbers).
Exact's timestamps are Amsterdam wall-clock times: the window's start is widened by
`overlap_minutes` (2 hours by default) and records are de-duplicated.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param
from airflow.timetables.interval import CronDataIntervalTimetable

from mlc.operators.ack_generate import AckGenerateOperator
from mlc.operators.dag_params import send_params, task_defaults, waive_param, window_params
from mlc.operators.exact_extract import EXPORTS, ExactExtractOperator
from mlc.operators.render_file import RenderFileOperator
from mlc.operators.sftp_deliver import SftpDeliverOperator
from mlc.operators.watcher import watch
from mlc.state.ledgers import sftp_destination

DEFAULT_MAPPINGS = {
    "purchase_invoices": "exact_online_to_sftp/purchase_invoices_x12_810",
    "suppliers": "exact_online_to_sftp/suppliers_csv",
    "gl_accounts": "exact_online_to_sftp/gl_accounts_csv",
    "gl_account_mappings": "exact_online_to_sftp/gl_account_mappings_csv",
    "payments": "exact_online_to_sftp/payments_x12_820",
    "cost_centres": "exact_online_to_sftp/cost_centres_csv",
    "cost_units": "exact_online_to_sftp/cost_units_csv",
}

with DAG(
    dag_id="exact_online_to_sftp",
    description="Purchase invoices, payments and reference data from Exact Online to the ERP's SFTP folder",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # no back-fill run per missed day: the next run reads from the watermark and catches up
    max_active_runs=1,
    tags=["ml-connector", "exact-online", "sftp", "x12"],
    default_args=task_defaults(retries=3, retry_delay=timedelta(minutes=2),
                               max_retry_delay=timedelta(minutes=20), execution_timeout=timedelta(hours=2)),
    params={
        **window_params("the day before the run", 120,
                        "Exact's clock is Amsterdam wall-clock time: widen the window's start."),
        "exports": Param(["purchase_invoices", "payments"], type="array", items={"type": "string", "enum": list(EXPORTS)},
                         title="Exports", examples=list(EXPORTS)),
        **{f"{export}_mapping": Param(mapping, type="string", title=f"Mapping for {export}",
                                      description="A file under include/mappings, without .yaml")
           for export, mapping in DEFAULT_MAPPINGS.items()},
        "remote_dir": Param("inbound", type="string", title="ERP inbound folder", pattern=r"^[A-Za-z0-9._/-]+$"),
        **send_params(),
        **waive_param(),
        "generate_acks": Param(True, type="boolean", title="Write 997 / CONTRL for files the ERP has processed"),
        "processed_dir": Param("inbound/processed", type="string", title="Where the ERP moves processed files",
                               pattern=r"^[A-Za-z0-9._/-]+$"),
        "acks_dir": Param("acks", type="string", title="Acknowledgment folder", pattern=r"^[A-Za-z0-9._/-]+$"),
    },
) as dag:
    acknowledge = AckGenerateOperator(
        task_id="acknowledge",
        remote_dir="{{ params.remote_dir }}",
        processed_dir="{{ params.processed_dir }}",
        acks_dir="{{ params.acks_dir }}",
        enabled="{{ params.generate_acks and not params.dry_run }}",
        trigger_rule="all_done",  # files delivered by earlier runs are acknowledged even if today's run failed
    )
    for export in EXPORTS:
        extract = ExactExtractOperator(
            task_id=f"extract_{export}",
            export=export,
            exports="{{ params.exports | join(',') }}",
            window_start="{{ params.window_start or '' }}",
            window_end="{{ params.window_end or '' }}",
            overlap_minutes="{{ params.overlap_minutes }}",
        )
        render = RenderFileOperator(
            task_id=f"render_{export}",
            source_task_id=f"extract_{export}",
            mapping=f"{{{{ params.{export}_mapping }}}}",
            destination=sftp_destination("sftp_default", "{{ params.remote_dir }}"),
            force="{{ params.force }}",
            waive="{{ params.waive }}",
        )
        deliver = SftpDeliverOperator(
            task_id=f"deliver_{export}",
            source_task_id=f"render_{export}",
            remote_dir="{{ params.remote_dir }}",
            force="{{ params.force }}",
            dry_run="{{ params.dry_run }}",
        )
        extract >> render >> deliver >> acknowledge
    watch(dag)  # acknowledge runs whatever happened: the watcher makes a failure fail the run
