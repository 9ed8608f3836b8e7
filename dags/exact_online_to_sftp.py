"""
### Exact Online → partner (an ERP) over SFTP

One DAG per trading partner whose profile (`include/partners/<partner>.yaml`) takes part in
`exact_online_to_sftp`, id `exact_online_to_sftp__<partner>`. On the partner's schedule (daily at
05:00 UTC when the profile names none), what changed in the profile's Exact Online division since
the last delivery (purchase invoices with their lines, supplier payments, suppliers, GL accounts and
their classification mappings, cost centres, cost units: the documents the profile lists) is
extracted, rendered through its mappings (`include/mappings/exact_online_to_sftp/`) with its
interchange IDs, and delivered to its SFTP inbound folder.

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_<export>` | reads Exact Online (the pool named after the Exact connection, and the division when the profile names one: one caller per division, pages in order, within the rate limit), stages JSON lines | the log's last line; "run `mlc exact-auth`" means the token chain must be renewed by a person |
| `render_<export>` | renders the mapping, leaving out records the ERP already has in that version; a record that cannot be rendered gets a `record_rejected` AUDIT line | the mapping and the rejected record's key and field |
| `deliver_<export>` | uploads as `.name.part`, checks the size, renames; skips a file already delivered; records what arrived and moves the watermark; **fails after delivering when records are pending** | the profile's SFTP connection: host key, login, folder, disk space; the pending records named in its last line |
| `acknowledge` | for each delivered X12 / EDIFACT file the ERP moved to its processed folder, writes a 997 / CONTRL into `acks/` | the processed folder Param |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed (acknowledge runs whatever happened) | the task that failed before them |

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

**Replay**: clear `deliver_<export>` (with downstream, the default) to send a file the run staged but could not deliver (one
that already reached the folder is recognised and not sent twice); to send the ERP again a file it lost,
trigger `mlc_resend` with this DAG, the run and the document; clear `extract_<export>` with downstream to
extract the same window again (same records, same bytes, same control numbers).
Exact's timestamps are Amsterdam wall-clock times: the window's start is widened by
`overlap_minutes` (2 hours by default) and records are de-duplicated.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from mlc.operators.ack_generate import AckGenerateOperator
from mlc.operators.dag_params import send_params, steps, task_defaults, waive_param, window_params
from mlc.operators.exact_extract import ExactExtractOperator
from mlc.operators.partner_dags import (broken_profile_dags, document_params, folder_param, partner_dag, profiles,
                                        render_and_deliver)
from mlc.operators.watcher import watch

INTEGRATION = "exact_online_to_sftp"
DEFAULTS = task_defaults(retries=3, retry_delay=timedelta(minutes=2), max_retry_delay=timedelta(minutes=20),
                         execution_timeout=timedelta(hours=2))

found = profiles(INTEGRATION)
for partner, part in found.parts:
    conns, folders = part.connections, part.folders
    with DAG(
        **partner_dag(INTEGRATION, partner, part, doc=__doc__, default_cron="0 5 * * *", tags=["exact-online", "sftp"],
                      what="purchase invoices, payments and reference data from Exact Online over SFTP"),
        catchup=False,  # no back-fill run per missed period: the next run reads from the watermark and catches up
        default_args=DEFAULTS,
        params={
            **window_params("the period before the run", 120,
                            "Exact's clock is Amsterdam wall-clock time: widen the window's start."),
            **document_params(part.documents),
            "remote_dir": folder_param(folders["remote_dir"], "Partner inbound folder",
                                       "Where the files are delivered (the profile's folder by default)."),
            **send_params(),
            **waive_param(),
            "generate_acks": Param(True, type="boolean",
                                   title="Write 997 / CONTRL for files the partner has processed",
                                   description="On: acknowledge writes one for each file in the processed folder "
                                               "that has none yet."),
            "processed_dir": folder_param(folders["processed_dir"], "Where the partner moves processed files",
                                          "Each X12 / EDIFACT file found there gets its 997 / CONTRL."),
            "acks_dir": folder_param(folders["acks_dir"], "Acknowledgment folder",
                                     "Where the 997 / CONTRL files are written."),
        },
    ) as dag:
        acknowledge = AckGenerateOperator(
            task_id="acknowledge", sftp_conn_id=conns["sftp_conn_id"], remote_dir="{{ params.remote_dir }}",
            processed_dir="{{ params.processed_dir }}", acks_dir="{{ params.acks_dir }}",
            enabled="{{ params.generate_acks and not params.dry_run }}",
            trigger_rule="all_done",  # files delivered by earlier runs are acknowledged even if today's run failed
        )
        for export in part.documents:
            with steps(export, f"{export}: extract from Exact Online, render, deliver") as document:
                extract = ExactExtractOperator(
                    task_id=f"extract_{export}", export=export, exports="{{ params.exports | join(',') }}",
                    window_start="{{ params.window_start or '' }}", window_end="{{ params.window_end or '' }}",
                    overlap_minutes="{{ params.overlap_minutes }}",
                    exact_online_conn_id=conns["exact_online_conn_id"], division=part.division, pool=part.pool)
                render_and_deliver(export, extract, part)
            document >> acknowledge
        watch(dag)  # acknowledge runs whatever happened: the watcher makes a failure fail the run

broken_profile_dags(INTEGRATION, found, DEFAULTS)
