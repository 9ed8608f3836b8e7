"""
### Connections check

Proves, every hour, that ml-connector can still reach the systems it delivers to — before a
partner's Monday file is due.

| task | what it does | when it fails, look at |
|---|---|---|
| `check_sftp_default` | logs in to the partner SFTP server (**host key verified**), writes a probe file under a temporary name, renames it, reads it back, compares sha256, removes it | the connection's `host_key` extra (the log names the expected and the offered fingerprints), the login, the folder's permissions, free space on the server |
| `check_stampli_sftp` | the same against Stampli's export folder | as above, for `stampli_sftp` |
| `check_snowflake` | opens a Snowflake session and reports the database and schema it landed in | the key pair, the role, the warehouse |
| `needs_a_person`, `watcher` | run only when a task failed: each failure goes under Required Actions (what failed and what to do, as its alert said), and the run is marked failed | the task that failed before them |

Each check writes one `AUDIT` line with the connection id, the server's host-key fingerprint and
the probe's sha256. **Nothing is delivered** to a partner: the probe is a hidden file
(`.mlc-probe-…`) that is removed again at once.

**Trigger with config** to check other connections (`sftp_conn_id`, `stampli_conn_id`,
`snowflake_conn_id`) or another folder (`remote_dir`). Re-running is always safe.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from mlc.operators.connection_check import SftpProbeOperator, SnowflakeProbeOperator
from mlc.operators.dag_params import schedule, task_defaults
from mlc.operators.partner_dags import folder_param
from mlc.operators.watcher import watch

with DAG(
    dag_id="mlc_connections_check",
    description="Hourly end-to-end check of the SFTP and Snowflake connections",
    doc_md=__doc__,
    schedule=schedule("mlc_connections_check", "0 * * * *"),  # MLC_SCHEDULE__MLC_CONNECTIONS_CHECK
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    # A missed hourly check says nothing about now: never back-fill it.
    catchup=False,
    max_active_runs=1,
    tags=["ml-connector", "platform", "sftp", "snowflake"],
    default_args=task_defaults(retries=2, retry_delay=timedelta(seconds=30),
                               max_retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=5)),
    params={
        "sftp_conn_id": Param("sftp_default", type="string", title="Partner SFTP connection",
                              description="Its host key is checked, a probe file written, read back and removed."),
        "stampli_conn_id": Param("stampli_sftp", type="string", title="Stampli SFTP connection",
                                 description="Checked as the partner's is."),
        "snowflake_conn_id": Param("snowflake_default", type="string", title="Snowflake connection",
                                   description="A query is run with it (SELECT CURRENT_VERSION())."),
        "remote_dir": folder_param(".", "Remote folder for the probe file",
                                   "Where the probe is written; it is removed after the check."),
    },
) as dag:
    SftpProbeOperator(
        task_id="check_sftp_default",
        sftp_conn_id="{{ params.sftp_conn_id }}",
        remote_dir="{{ params.remote_dir }}",
    )
    SftpProbeOperator(
        task_id="check_stampli_sftp",
        sftp_conn_id="{{ params.stampli_conn_id }}",
        remote_dir="{{ params.remote_dir }}",
    )
    SnowflakeProbeOperator(task_id="check_snowflake", snowflake_conn_id="{{ params.snowflake_conn_id }}")
    watch(dag)  # a failure goes under Required Actions, and the run is marked failed
