"""Upload AP bills as X12 documents (810, or 850 per mapping) into each partner's Sterling mailbox.

One interchange per bill, named deterministically from the document type, vendor, bill and a hash
of what it says (``810_V00012_4711_1a2b3c4d.x12``), so the customer's routing rule can match it and
a retry is recognisable. Each document goes once: the delivery ledger remembers what reached which
mailbox (keyed by the bill's content, whatever the envelope numbers), and a name already in the
mailbox (an upload whose answer was lost) is recorded instead of sent again. A mailbox that does not
exist yet is created first (B2Bi gives a new partner only ``/<partner>``). A bill that cannot go (it
does not render, its partner could not be created, Sterling refused it) is never dropped in silence:
the others still go, then the task fails naming each one; clearing the task sends only what is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from mlc.formats.mapping import load_mapping, mapping_path
from mlc.formats.partner import with_partner
from mlc.formats.render import render
from mlc.hooks.sterling import SterlingError, SterlingHook, SterlingUnavailable
from mlc.operators.assets import announce, declare
from mlc.operators.audit import audit
from mlc.operators.lineage import ReportsLineage, dataset, file_dataset
from mlc.operators.checks import truthy
from mlc.operators.progress import commit_watermark, waived_keys
from mlc.operators.render_file import run_timestamp
from mlc.operators.staging import staged_records
from mlc.state.control_numbers import control_number_store
from mlc.state.ledgers import DeliveryLedger


class SterlingUploadOperator(ReportsLineage, BaseOperator):
    """Render and upload the bills staged by ``source_task_id``.

    :param mapping: mapping name under include/mappings (templated).
    :param mailbox_template: the partner's mailbox, ``{partner}`` = VENDORID (templated).
    :param force: upload even documents already delivered (templated). :param dry_run: render only (templated).
    :param hook_kwargs: passed to :class:`SterlingHook` (timeouts, retry pacing).
    :param partners_task_id: the partner sync task; the bills of vendors it could not create wait for it.
    :param waive: bills (RECORDID or RECORDNO) or vendors (VENDORID) a person decided not to send (templated).
    :param interchange: the partner profile's interchange IDs, laid over the mapping's X12 section.
    """

    template_fields: Sequence[str] = ("mapping", "mailbox_template", "sterling_conn_id", "force", "dry_run", "waive")
    ui_color = "#fff2cc"

    def __init__(self, *, source_task_id: str, mapping: str, mailbox_template: str = "/{partner}/Inbox",
                 sterling_conn_id: str = SterlingHook.default_conn_name, force: Any = False, dry_run: Any = False,
                 hook_kwargs: dict[str, Any] | None = None, partners_task_id: str | None = None, waive: Any = None,
                 interchange: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        declare(self)  # the asset alias its deliveries update
        self.interchange = interchange
        self.partners_task_id, self.waive = partners_task_id, waive
        self.source_task_id, self.mapping, self.mailbox_template = source_task_id, mapping, mailbox_template
        self.sterling_conn_id, self.force, self.dry_run = sterling_conn_id, force, dry_run
        self.hook_kwargs = dict(hook_kwargs or {})

    def execute(self, context: Context) -> dict[str, Any]:
        staged = context["ti"].xcom_pull(task_ids=self.source_task_id)
        if not staged or not staged.get("records"):
            raise AirflowSkipException(f"{self.source_task_id} staged no bill")
        mapping = with_partner(load_mapping(mapping_path(self.mapping)), self.interchange, None)
        document = str(mapping.get("document") or mapping["format"])
        hook = SterlingHook(self.sterling_conn_id, **self.hook_kwargs)
        outputs: list[Any] = []  # each document uploaded, for lineage
        hook.warn_if_admin()
        ledger, store = DeliveryLedger(), control_number_store()
        ti, when = context["ti"], run_timestamp(context)
        names_in: dict[str, set[str]] = {}
        counts = {"uploaded": 0, "already_there": 0, "skipped": 0, "rejected": 0, "pending": 0, "waived": 0}
        waived = waived_keys(self.waive)
        failed: list[str] = []
        no_partner = set(ti.xcom_pull(task_ids=self.partners_task_id, key="failed") or []) \
            if self.partners_task_id else set()
        for bill in staged_records(staged["uri"]):
            vendor, record_no = str(bill.get("VENDORID")), str(bill.get("RECORDNO"))
            content = hashlib.sha256(f"{self.mapping}\n{json.dumps(bill, sort_keys=True)}".encode()).hexdigest()
            name = f"{document}_{vendor}_{record_no}_{content[:8]}.x12"
            mailbox = self.mailbox_template.format(partner=vendor)
            destination = f"sterling://{self.sterling_conn_id}{mailbox}"
            fields = {"bill": bill.get("RECORDID"), "recordno": record_no, "vendor": vendor, "mailbox": mailbox,
                      "message_name": name}
            earlier = ledger.find(destination, f"content:{content}")
            if earlier and not truthy(self.force):
                counts["skipped"] += 1
                audit("document_skipped", context, logger=self.log, reason="already delivered",
                      delivered_at=earlier["delivered_at"], **fields)
                continue
            if waived & {vendor, record_no, str(bill.get("RECORDID"))}:
                counts["waived"] += 1
                audit("record_waived", context, logger=self.log, reason="listed in the waive Param: not sent", **fields)
                continue
            if vendor in no_partner:
                counts["pending"] += 1
                failed.append(f"{name}: its trading partner {vendor} could not be created (see sync_partners)")
                audit("document_pending", context, logger=self.log, reason="its trading partner could not be created",
                      **fields)
                continue
            out = io.BytesIO()
            # The content is in the key: the same bill renders the same numbers, a changed one new numbers.
            result = render(mapping, [bill], out, timestamp=when, store=store,
                            run_key=f"{ti.dag_id}|{ti.run_id}|{ti.task_id}|{record_no}|{content[:16]}")
            for adjusted in result.adjusted:
                audit("value_adjusted", context, logger=self.log, mapping=self.mapping, **adjusted, **fields)
            if result.rejected:
                counts["rejected"] += 1
                failed.append(f"{name}: {result.rejected[0]['field']}: {result.rejected[0]['error']}")
                audit("record_rejected", context, logger=self.log, mapping=self.mapping, **result.rejected[0], **fields)
                continue
            if truthy(self.dry_run):
                counts["skipped"] += 1
                audit("document_skipped", context, logger=self.log, reason="dry_run", sha256=result.sha256, **fields)
                continue
            try:
                if mailbox not in names_in:
                    if hook.ensure_mailbox(mailbox):
                        audit("mailbox_created", context, logger=self.log, mailbox=mailbox, vendor=vendor)
                    names_in[mailbox] = {m.get("name") for m in hook.list_messages(mailbox)}
                if name in names_in[mailbox] and not truthy(self.force):
                    message_id, status = "", "already_there"  # sent by an attempt whose answer was lost
                else:
                    message_id, status = hook.upload(mailbox, name, out.getvalue()), "uploaded"
            except (SterlingError, SterlingUnavailable) as exc:
                failed.append(f"{name} -> {mailbox}: {exc}")
                audit("document_failed", context, logger=self.log, error=str(exc), **fields)
                continue
            counts[status] += 1
            outputs.append(dataset(f"sterling://{self.sterling_conn_id}", f"{mailbox}/{name}"))
            for key in (f"content:{content}", result.sha256):  # what it says, and the document itself (mlc status)
                ledger.record(destination, key, f"{mailbox}/{name}", result.bytes, ti.run_id,
                              {**result.control_numbers, "records": result.records})
            audit("document_uploaded", context, logger=self.log, status=status, message_id=message_id,
                  sha256=result.sha256, control=result.control_numbers, **fields)
            announce(self, context, destination, {"file": name, "mailbox": mailbox, "sha256": result.sha256,
                                                  "bytes": result.bytes, "records": result.records,
                                                  "control": result.control_numbers, "run_id": ti.run_id})
        self.lineage = ([file_dataset(staged["uri"])], outputs)
        self.log.info("Bills to Sterling: %s, failed %s (Sterling calls: %s)", counts, len(failed), hook.calls)
        if not failed and not truthy(self.dry_run):
            commit_watermark(context, staged.get("watermark"), logger=self.log)
        if failed:
            raise AirflowException(f"{len(failed)} document(s) not uploaded: " + "; ".join(failed[:20]) +
                                   (f" and {len(failed) - 20} more (the document_* AUDIT lines name each)"
                                    if len(failed) > 20 else "") +
                                   ". The others are in their mailboxes; clearing this task sends only the missing ones.")
        return counts
