"""
### Send a partner a file again

A partner lost a file, or asks for it again. Trigger this DAG with the partner DAG, the run that sent the file
(the deliveries page and the run's page show it), the document, and why: the very file that run rendered and
staged goes again, same bytes, same control numbers, to the folder it went to (or another you name). Nothing is
extracted or rendered again, no watermark moves, and the AUDIT line `file_resent` keeps who asked and why (with
the run's trigger note). When the partner still has the file under its name, nothing is written (the SFTP hook
compares sha256).

Use it instead of clearing the delivery task: a cleared `deliver_<export>` skips a file that already reached
its folder (that is what makes retries safe). To send *newer* data instead, trigger the partner DAG with a
window (`window_start`); to render the same records again, clear `extract_<export>` with downstream.

| task | what it does | when it fails, look at |
|---|---|---|
| `resend` | reads the run's staged file (its `render_<export>` result), uploads it as `.name.part`, checks the size, renames | the names in the form; "no longer in staging": clear `extract_<export>` with downstream in that run instead |
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from mlc.operators.dag_params import task_defaults
from mlc.operators.partner_dags import FOLDER_PATTERN, profiles
from mlc.operators.resend import ResendFileOperator
from mlc.state.status import SFTP_INTEGRATIONS

parts = [(integration, partner, part) for integration in SFTP_INTEGRATIONS
         for partner, part in profiles(integration).parts]
partner_dags = sorted(f"{integration}__{partner.partner}" for integration, partner, _part in parts)
documents = sorted({document for _integration, _partner, part in parts for document in part.documents})

with DAG(
    dag_id="mlc_resend",
    description="Send a partner again a file an earlier run delivered: the same bytes, nothing extracted again",
    doc_md=__doc__,
    schedule=None,  # only ever triggered by a person
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # never scheduled, so never behind
    tags=["ml-connector", "sftp", "replay"],
    default_args=task_defaults(retries=2, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=30)),
    params={
        "source_dag_id": Param(partner_dags[0] if partner_dags else "", type="string", enum=partner_dags or [""],
                               title="Partner DAG", description="The DAG of the partner that gets the file."),
        "source_run_id": Param("", type="string", minLength=1, title="Run that sent it",
                               description="Its run id, e.g. scheduled__2026-11-30T06:00:00+00:00 (the deliveries "
                                           "page links each file to its run)."),
        "export": Param(documents[0] if documents else "", type="string", enum=documents or [""], title="Document",
                        description="Which of the run's files: bills, vendors, ..."),
        "reason": Param("", type="string", minLength=3, title="Why it goes again",
                        description="Kept in the audit trail (file_resent), e.g. 'partner lost it, ticket 4711'."),
        "remote_dir": Param("", type="string", pattern=rf"^$|{FOLDER_PATTERN}", title="Folder (optional)",
                            description="Empty: the folder the run delivered it to. '..' is refused."),
        "sftp_conn_id": Param("", type="string", title="SFTP connection (optional)",
                              description="Empty: the connection the run delivered it through."),
    },
) as dag:
    ResendFileOperator(task_id="resend", source_dag_id="{{ params.source_dag_id }}",
                       source_run_id="{{ params.source_run_id }}", export="{{ params.export }}",
                       reason="{{ params.reason }}", remote_dir="{{ params.remote_dir }}",
                       sftp_conn_id="{{ params.sftp_conn_id }}")
