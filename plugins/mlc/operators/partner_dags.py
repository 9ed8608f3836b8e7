"""What the DAG files share to build one DAG per integration and trading partner from its profile
(``include/partners/<partner>.yaml``): which partners take part, their schedules, the document's Params, and a
stand-in DAG for a profile that does not load.

One DAG per partner (ids ``<integration>__<partner>``) rather than mapped tasks over partners: an operator sees
one partner's runs and failures, pauses it, triggers it with its own Params and clears its failed task without
touching the others, with Airflow's own screens (README, "Trading partner profiles").

A broken profile never takes the other partners down with it: its DAG is replaced by a stand-in whose one task
fails with the profile's error (file and line), so the mistake shows in the UI where the partner's DAG would be.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator, Context, Param
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from mlc.formats.partner import Partner, PartnerIntegration, dag_id, load_profiles
from mlc.operators.dag_params import mapping_param, schedule
from mlc.operators.render_file import RenderFileOperator
from mlc.operators.sftp_deliver import SftpDeliverOperator
from mlc.state.ledgers import sftp_destination

log = logging.getLogger(__name__)


@dataclass
class Profiles:
    """The profiles of one integration: the switched-on parts, every loaded profile, and the broken files."""

    parts: list[tuple[Partner, PartnerIntegration]] = field(default_factory=list)
    loaded: list[Partner] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # file stem -> error naming file and line


def profiles(integration: str, folder: Path | None = None) -> Profiles:
    """Load every profile once; a profile that does not load is set aside with its error, the others go on."""
    loaded, broken = load_profiles(folder, mentioning=integration)
    for stem, error in broken.items():  # its stand-in goes where its DAG would have been
        log.error("Partner profile %s.yaml does not load: %s", stem, error)
    parts = [(partner, part) for partner in loaded if (part := partner.takes_part_in(integration)) is not None]
    return Profiles(parts=parts, loaded=loaded, broken=broken)


def timetable(dag_id: str, part: PartnerIntegration, default_cron: str) -> CronDataIntervalTimetable | None:
    """The partner's cron in its time zone; the integration's usual one when the profile names none; the
    deployment's ``MLC_SCHEDULE__<DAG_ID>`` over both (:func:`mlc.operators.dag_params.schedule`)."""
    if part.schedule is None:
        return schedule(dag_id, default_cron)
    return schedule(dag_id, part.schedule.cron, part.schedule.timezone)


def start_date(part: PartnerIntegration) -> pendulum.DateTime:
    return pendulum.datetime(2026, 1, 1, tz=part.schedule.timezone if part.schedule else "UTC")


def partner_doc(doc: str, partner: Partner, part: PartnerIntegration) -> str:
    """The integration's doc_md under a header saying whose DAG this is and what its profile says."""
    documents = ", ".join(f"`{d}` ({m})" for d, m in part.documents.items())
    schedule = f"`{part.schedule.cron}` ({part.schedule.timezone})" if part.schedule else "the integration's usual one"
    connections = ", ".join(f"`{c}`" for c in part.connections.values())
    folders = ", ".join(f"{k} `{v}`" for k, v in part.folders.items())
    acks = (f"expected within {part.ack_within_hours:g} h" if part.ack_within_hours is not None
            else "as the mappings say")
    return (f"## {partner.name} (`{partner.partner}`)\n\nBuilt from `{Path(partner.source).name}`: documents "
            f"{documents}; schedule {schedule}; connections {connections}; folders {folders}; acknowledgments "
            f"{acks}. Change the profile, not this DAG.\n{doc}")


#: what a folder Param accepts (no ``..``: the profile's folders are checked the same way)
FOLDER_PATTERN = r"^(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]+$"


def partner_dag(integration: str, partner: Partner, part: PartnerIntegration, *, doc: str, what: str,
                default_cron: str, tags: list[str]) -> dict[str, Any]:
    """The DAG arguments every partner's DAG shares: its id, description, doc, schedule (the profile's, else
    ``default_cron``, the deployment's ``MLC_SCHEDULE__<DAG_ID>`` over both), start and one run at a time. Each
    DAG file says ``catchup`` itself, with why."""
    ident = dag_id(integration, partner.partner)
    return {"dag_id": ident, "description": f"{partner.name}: {what}", "doc_md": partner_doc(doc, partner, part),
            "schedule": timetable(ident, part, default_cron), "start_date": start_date(part), "max_active_runs": 1, "tags": ["ml-connector", *tags, f"partner:{partner.partner}"]}


def document_params(documents: dict[str, str]) -> dict[str, Param]:
    """``exports`` (the profile's documents, all by default) and one ``<document>_mapping`` Param per document:
    the form offers only what this partner's DAG can run."""
    names = list(documents)
    return {
        "exports": Param(names, type="array", items={"type": "string", "enum": names}, title="Exports",
                         examples=names, description="What this run sends: the partner profile's documents, all "
                                                     "by default. One left out is skipped in this run only."),
        **{f"{document}_mapping": mapping_param(document, mapping) for document, mapping in documents.items()},
    }


class ProfileErrorOperator(BaseOperator):
    """Fails with the error of a partner profile that does not load."""

    ui_color = "#f4cccc"

    def __init__(self, *, error: str, **kwargs: Any) -> None:
        kwargs.update(retries=0)
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context: Context) -> None:
        raise AirflowFailException(f"The partner profile does not load, so this partner's DAG cannot be built: "
                                   f"{self.error}. Fix the file (mlc partner check names the line); the DAG "
                                   "comes back at the next parse.")


def folder_param(default: str, title: str, description: str) -> Param:
    """A partner folder Param: the profile's folder by default, never one that climbs out with ``..``."""
    return Param(default, type="string", title=title, pattern=FOLDER_PATTERN,
                 description=f"{description} Relative to the SFTP login folder; '..' is refused.")


def render_and_deliver(export: str, extract: BaseOperator, part: PartnerIntegration) -> BaseOperator:
    """``extract >> render_<export> >> deliver_<export>``, as both SFTP integrations send a document to the partner's
    folder (Params ``<export>_mapping``, ``remote_dir``, ``force``, ``waive``, ``dry_run``); the delivery task, whose
    asset alias gets the folder's asset on each delivery (:mod:`mlc.operators.assets`)."""
    sftp_conn_id = part.connections["sftp_conn_id"]
    render = RenderFileOperator(
        task_id=f"render_{export}", source_task_id=extract.task_id,
        mapping=f"{{{{ params.{export}_mapping }}}}", force="{{ params.force }}", waive="{{ params.waive }}",
        destination=sftp_destination(sftp_conn_id, "{{ params.remote_dir }}"),
        interchange=part.interchange, ack_within_hours=part.ack_within_hours)
    deliver = SftpDeliverOperator(task_id=f"deliver_{export}", source_task_id=render.task_id,
                                  sftp_conn_id=sftp_conn_id, remote_dir="{{ params.remote_dir }}",
                                  force="{{ params.force }}", dry_run="{{ params.dry_run }}")
    extract >> render >> deliver
    return deliver


def broken_profile_dags(integration: str, found: Profiles, owner: dict[str, Any]) -> None:
    """A stand-in DAG per broken profile, where its DAG would be: never scheduled, its doc and task say why."""
    for stem, error in found.broken.items():
        with DAG(dag_id=dag_id(integration, re.sub(r"[^A-Za-z0-9_.-]", "_", stem)),
                 description=f"BROKEN PROFILE: {error}"[:200], schedule=None,
                 start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, max_active_runs=1,
                 tags=["ml-connector", "broken-profile"], default_args=owner,
                 doc_md=f"### The profile `{stem}.yaml` does not load\n\n```\n{error}\n```\n\nThe partner's "
                        "other DAGs and every other partner go on. Fix the profile; `bin/mlc partner check "
                        f"include/partners/{stem}.yaml` names the line."):
            ProfileErrorOperator(task_id="profile_error", error=error)
