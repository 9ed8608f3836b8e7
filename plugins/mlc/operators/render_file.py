"""Render staged records into a partner's file through a mapping in ``include/mappings``.

Records are read from the staged JSON lines one at a time and the file is written as they come
(memory flat in the number of records). Rendering is deterministic for a run: the interchange
date is the run's, and control numbers are allocated under a key made of dag, run and task, so a
retry or a cleared task renders the same bytes. A record the mapping cannot render is not
dropped silently: it gets an AUDIT line naming the record, its key, the field and the reason,
and the good records still make the file. When the same records already reached the file's
destination through the same mapping (the delivery ledger says so), nothing is rendered, so no
control number is spent on a file the partner would never see.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk import BaseOperator, Context

from mlc.formats.mapping import load_mapping, mapping_path
from mlc.formats.render import file_name, render
from mlc.operators.audit import audit
from mlc.operators.checks import truthy
from mlc.operators.staging import staged_records, staging_dir
from mlc.state.control_numbers import control_number_store
from mlc.state.ledgers import DeliveryLedger, content_key, normalize_destination

def run_timestamp(context: Context) -> datetime:
    """The moment the run stands for: stable across retries and replays of the run."""
    dag_run = context.get("dag_run")
    moment = (context.get("data_interval_end") or getattr(dag_run, "run_after", None)
              or getattr(dag_run, "logical_date", None) or datetime.now(timezone.utc))
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)


class RenderFileOperator(BaseOperator):
    """Turn the records staged by ``source_task_id`` into one file for a partner.

    :param mapping: mapping name under include/mappings (templated, so a Param can choose it).
    :param source_task_id: the extract task whose XCom names the staged records.
    :param destination: where the file is going, as the delivery ledger names it
        (:func:`mlc.state.ledgers.sftp_destination`); when these records already reached it through this
        mapping, nothing is rendered (templated).
    :param force: render even then (templated).
    """

    template_fields: Sequence[str] = ("mapping", "destination", "force")
    ui_color = "#fdf3e1"

    def __init__(self, *, mapping: str, source_task_id: str, destination: str | None = None, force: Any = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mapping, self.source_task_id = mapping, source_task_id
        self.destination, self.force = destination, force

    def execute(self, context: Context) -> dict[str, Any]:
        staged = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not staged:
            raise AirflowSkipException(f"{self.source_task_id} staged nothing")
        mapping = load_mapping(mapping_path(self.mapping))
        ti = context["ti"]
        content = content_key(self.mapping, staged["sha256"])
        if self.destination and not truthy(self.force):
            destination = normalize_destination(self.destination)
            earlier = DeliveryLedger().find(destination, content)
            if earlier:
                # Same records through the same mapping already reached this folder: rendering again
                # would only spend control numbers the partner then sees missing.
                audit("delivery_skipped", context, logger=self.log, reason="same records already delivered",
                      destination=destination, earlier_file=earlier["remote_path"], earlier_run=earlier["run"],
                      delivered_at=earlier["delivered_at"], mapping=self.mapping, records=staged.get("records"))
                raise AirflowSkipException(f"the same records already reached {destination} as {earlier['remote_path']}")
        timestamp = run_timestamp(context)
        out_dir = staging_dir(context)
        partial = out_dir / "rendering.part"
        with partial.open("wb") as out:
            # The records' hash is in the key: a replay of the same records gets the same control numbers, a
            # re-extract that found other records gets new ones (never the old ISA13 on new content).
            run_key = f"{ti.dag_id}|{ti.run_id}|{ti.task_id}|{staged['sha256'][:16]}"
            result = render(mapping, staged_records(staged["uri"]), out, timestamp=timestamp, run_key=run_key,
                            store=control_number_store())
        control = result.control_numbers.get("isa13") or result.control_numbers.get("unb") or ""
        name = file_name(mapping, timestamp=timestamp, run_id=ti.run_id, control=control)
        final = out_dir / name
        partial.rename(final)
        for adjusted in result.adjusted:
            audit("value_adjusted", context, logger=self.log, mapping=self.mapping, export=staged.get("export"), **adjusted)
        for rejected in result.rejected:
            audit("record_rejected", context, logger=self.log, mapping=self.mapping, export=staged.get("export"), **rejected)
        control_numbers = {k: v for k, v in result.control_numbers.items() if not isinstance(v, list)}
        for key, value in result.control_numbers.items():
            if isinstance(value, list) and value:
                control_numbers[f"{key}_count"], control_numbers[f"{key}_first"] = len(value), value[0]
                control_numbers[f"{key}_last"] = value[-1]
        audit("file_staged", context, logger=self.log, mapping=self.mapping, file=name, sha256=result.sha256, bytes=result.bytes,
              records=result.records, rejected=len(result.rejected), adjusted=len(result.adjusted), control=control_numbers)
        if result.rejected:
            self.log.warning("%s record(s) could not be rendered and are not in %s; see the record_rejected AUDIT "
                             "lines above", len(result.rejected), name)
        return {"uri": str(final), "file": name, "sha256": result.sha256, "bytes": result.bytes,
                "records": result.records, "rejected": len(result.rejected), "control": control_numbers,
                "format": mapping["format"], "content_key": content}
