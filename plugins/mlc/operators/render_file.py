"""Render staged records into a partner's file through a mapping in ``include/mappings``.

Records are read from the staged JSON lines one at a time and the file is written as they come
(memory flat in the number of records). Rendering is deterministic for a run: the interchange
date is the run's, and control numbers are allocated under a key made of dag, run and task, so a
retry or a cleared task renders the same bytes. A record the mapping cannot render is not
dropped silently: it gets an AUDIT line naming the record, its key, the field and the reason,
and the good records still make the file; the delivery then fails the run, naming them, and the
watermark stays where it was, so later runs retry them until they go or a person waives them
(``waive``). When the same records already reached the file's destination through the same mapping,
nothing is rendered; otherwise each record whose very version (what the partner sees) already
reached the destination passes by (the per-record ledger), so overlapping windows and caught-up
runs send nothing twice, and no control number is spent on a file with nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk import BaseOperator, Context

from mlc.formats.mapping import load_mapping, mapping_path
from mlc.formats.partner import with_partner
from mlc.formats.render import file_name, render
from mlc.operators.audit import audit
from mlc.operators.checks import truthy
from mlc.operators.lineage import ReportsLineage, file_dataset
from mlc.operators.progress import LedgerGate, commit_watermark, waived_keys
from mlc.operators.staging import staged_records, staging_dir
from mlc.state.control_numbers import control_number_store
from mlc.state.ledgers import DeliveryLedger, content_key, normalize_destination
from mlc.state.progress import SentRecords

def run_timestamp(context: Context) -> datetime:
    """The moment the run stands for: stable across retries and replays of the run."""
    dag_run = context.get("dag_run")
    moment = (context.get("data_interval_end") or getattr(dag_run, "run_after", None)
              or getattr(dag_run, "logical_date", None) or datetime.now(timezone.utc))
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)


class RenderFileOperator(ReportsLineage, BaseOperator):
    """Turn the records staged by ``source_task_id`` into one file for a partner.

    :param mapping: mapping name under include/mappings (templated, so a Param can choose it).
    :param source_task_id: the extract task whose XCom names the staged records.
    :param destination: where the file is going, as the delivery ledger names it
        (:func:`mlc.state.ledgers.sftp_destination`); when these records already reached it through this
        mapping, nothing is rendered (templated).
    :param force: render even then, and records already sent too (templated).
    :param waive: keys of records not to send (a person decided), each logged (templated).
    :param interchange: the partner profile's interchange IDs, laid over the mapping's X12 / EDIFACT section.
    :param ack_within_hours: the partner profile's acknowledgment deadline, laid over the mapping's.
    """

    template_fields: Sequence[str] = ("mapping", "destination", "force", "waive")
    ui_color = "#fdf3e1"

    def __init__(self, *, mapping: str, source_task_id: str, destination: str | None = None, force: Any = False,
                 waive: Any = None, interchange: dict[str, Any] | None = None, ack_within_hours: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mapping, self.source_task_id = mapping, source_task_id
        self.destination, self.force, self.waive = destination, force, waive
        self.interchange, self.ack_within_hours = interchange, ack_within_hours

    def execute(self, context: Context) -> dict[str, Any]:
        staged = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not staged:
            raise AirflowSkipException(f"{self.source_task_id} staged nothing")
        mapping = with_partner(load_mapping(mapping_path(self.mapping)), self.interchange, self.ack_within_hours)
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
                commit_watermark(context, staged.get("watermark"), logger=self.log)
                raise AirflowSkipException(f"the same records already reached {destination} as {earlier['remote_path']}")
        timestamp = run_timestamp(context)
        out_dir = staging_dir(context)
        partial = out_dir / "rendering.part"
        sent_file = out_dir / "sent.jsonl"
        gate = None
        with partial.open("wb") as out, sent_file.open("w", encoding="utf-8") as sidecar:
            if self.destination and mapping.get("records", "changes") == "changes":  # "all": a list sent whole
                ledger = SentRecords(normalize_destination(self.destination))
                gate = LedgerGate(mapping, ledger, waived_keys(self.waive), truthy(self.force), sidecar)
            # The records' hash is in the key: a replay of the same records gets the same control numbers, a
            # re-extract that found other records gets new ones (never the old ISA13 on new content).
            run_key = f"{ti.dag_id}|{ti.run_id}|{ti.task_id}|{staged['sha256'][:16]}"
            records = gate.records(staged["uri"]) if gate else staged_records(staged["uri"])
            result = render(mapping, records, out, timestamp=timestamp, run_key=run_key,
                            store=control_number_store(), gate=gate)
        control = result.control_numbers.get("isa13") or result.control_numbers.get("unb") or ""
        name = file_name(mapping, timestamp=timestamp, run_id=ti.run_id, control=control)
        final = out_dir / name
        partial.rename(final)
        self.lineage = ([file_dataset(staged["uri"])], [file_dataset(str(final))])
        for adjusted in result.adjusted:
            audit("value_adjusted", context, logger=self.log, mapping=self.mapping, export=staged.get("export"), **adjusted)
        for rejected in result.rejected:
            audit("record_rejected", context, logger=self.log, mapping=self.mapping, export=staged.get("export"), **rejected)
        passed = {reason: [p for p in result.passed if p["reason"] == reason] for reason in ("waived", "already sent")}
        for waived in passed["waived"]:
            audit("record_waived", context, logger=self.log, mapping=self.mapping, export=staged.get("export"),
                  key=waived["key"], record=waived["record"], reason="listed in the waive Param: not sent")
        control_numbers = dict(result.control_numbers)  # ISA13/GS06 or UNB, and the sets' count, first and last
        audit("file_staged", context, logger=self.log, mapping=self.mapping, file=name, sha256=result.sha256, bytes=result.bytes,
              records=result.records, rejected=len(result.rejected), adjusted=len(result.adjusted),
              already_sent=len(passed["already sent"]), waived=len(passed["waived"]), control=control_numbers)
        if result.rejected:
            self.log.warning("%s record(s) could not be rendered and are not in %s; see the record_rejected AUDIT "
                             "lines above", len(result.rejected), name)
        return {"uri": str(final), "file": name, "sha256": result.sha256, "bytes": result.bytes,
                "records": result.records, "rejected": len(result.rejected), "control": control_numbers,
                "format": mapping["format"], "content_key": None if result.rejected else content,
                "sent_uri": str(sent_file) if gate else None, "already_sent": len(passed["already sent"]),
                "waived": len(passed["waived"]),
                # records left behind keep the mark where it is: the next run reads them again
                "watermark": None if result.rejected else staged.get("watermark"),
                "pending": [f"{r.get('key') or 'record ' + str(r['record'])}: {r['field']}: {r['error']}"
                            for r in result.rejected[:50]]}
