"""
### Sage Intacct → partner SFTP

One DAG per trading partner whose profile (`include/partners/<partner>.yaml`) takes part in
`intacct_to_sftp`, id `intacct_to_sftp__<partner>`. On the partner's schedule (Mondays 06:00 UTC
when the profile names none), the records changed since the last delivery (vendors, AP bills, GL
accounts, dimensions, payments, deletions: the documents the profile lists) are extracted from the
profile's Intacct company, rendered through the profile's mappings (`include/mappings/intacct_to_sftp/`)
with its interchange IDs, and delivered to its SFTP folder.

| task | what it does | when it fails, look at |
|---|---|---|
| `extract_<export>` | reads Intacct (the pool named after the Intacct connection: one call at a time), stages JSON lines | the profile's Intacct connection; the log names Intacct's errorno and correction |
| `render_<export>` | renders the mapping, leaving out records the partner already has in that version; a value too long for its element is cut (`value_adjusted`); a record that cannot be rendered gets a `record_rejected` AUDIT line and the rest go on | the mapping named in the log; the rejected record's key and field |
| `poll_acks` | reads 997 / TA1 / CONTRL files in `acks/`, matches them to delivered files by control number, AUDIT per set, moves them to `acks/processed/`; **fails when the partner rejected a file** | the log's last line: file, control number and the partner's error codes |
| `deliver_<export>` | uploads as `.name.part`, checks the size, renames; skips a file whose sha256 already reached this folder; records what arrived and moves the watermark; **fails after delivering when records are pending** | the profile's SFTP connection: host key (the log names both fingerprints), login, folder, disk space; the pending records named in its last line |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed (poll_acks runs whatever happened, so the run would otherwise look green) | the task that failed before them |

**Trigger with config**: `window_start` / `window_end` (ISO date-times) to re-send another week;
`exports` to choose what to send; `*_mapping` to use another partner layout; `force` to re-send
files and records already delivered; `dry_run` to render and stage without delivering.

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
that already reached the folder is recognised and not sent twice); to send a partner again a file it lost,
trigger `mlc_resend` with this DAG, the run and the document; clear `extract_<export>` with downstream to
extract the same window again: the same records render the same bytes and the same control numbers.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from mlc.operators.ack_poll import AckPollOperator
from mlc.operators.dag_params import send_params, steps, task_defaults, waive_param, window_params
from mlc.operators.intacct_extract import IntacctExtractOperator
from mlc.operators.partner_dags import (broken_profile_dags, document_params, folder_param, partner_dag, profiles,
                                        render_and_deliver)
from mlc.operators.watcher import watch

INTEGRATION = "intacct_to_sftp"
DEFAULTS = task_defaults(retries=3, retry_delay=timedelta(minutes=1), max_retry_delay=timedelta(minutes=15),
                         execution_timeout=timedelta(hours=2))

found = profiles(INTEGRATION)
for partner, part in found.parts:
    conns, folders = part.connections, part.folders
    with DAG(
        **partner_dag(INTEGRATION, partner, part, doc=__doc__, default_cron="0 6 * * 1", tags=["intacct", "sftp"],
                      what="vendor masters and AP bills from Sage Intacct to its SFTP folder"),
        catchup=False,  # no back-fill run per missed period: the next run reads from the watermark and catches up
        default_args=DEFAULTS,
        params={
            **window_params("the period before the run", 15,
                            "Widen the window's start; Intacct timestamps carry no zone."),
            **document_params(part.documents),
            "remote_dir": folder_param(folders["remote_dir"], "Partner folder",
                                       "Where the files are delivered (the profile's folder by default)."),
            "read_acks": Param(True, type="boolean", title="Read 997 / CONTRL acknowledgments from acks/",
                               description="On: poll_acks matches the partner's acknowledgments to the files "
                                           "delivered; a rejection fails the run. Off: they wait for the next run."),
            "acks_dir": folder_param(folders["acks_dir"], "Partner's acknowledgment folder",
                                     "Where the partner leaves its 997 / TA1 / CONTRL files."),
            **send_params(),
            **waive_param(),
        },
    ) as dag:
        # Acks of earlier deliveries arrive in their own time; read whatever is there, whatever this run sent.
        poll_acks = AckPollOperator(task_id="poll_acks", sftp_conn_id=conns["sftp_conn_id"],
                                    remote_dir="{{ params.remote_dir }}", acks_dir="{{ params.acks_dir }}",
                                    enabled="{{ params.read_acks }}", trigger_rule="all_done")
        for export in part.documents:
            with steps(export, f"{export}: extract from Intacct, render, deliver") as document:
                extract = IntacctExtractOperator(
                    task_id=f"extract_{export}", export=export, exports="{{ params.exports | join(',') }}",
                    window_start="{{ params.window_start or '' }}", window_end="{{ params.window_end or '' }}",
                    overlap_minutes="{{ params.overlap_minutes }}", intacct_conn_id=conns["intacct_conn_id"],
                    pool=part.pool)
                render_and_deliver(export, extract, part)
            document >> poll_acks
        watch(dag)  # poll_acks runs whatever happened: the watcher makes a failure fail the run

broken_profile_dags(INTEGRATION, found, DEFAULTS)
