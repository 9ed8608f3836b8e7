"""Make Intacct vendors exist in Sterling B2Bi as trading partners (reference/sterling.md §5).

The vendors changed in the window are created or updated; the vendors of the window's bills that
Sterling does not know yet are read from Intacct and created, so that every bill has a partner (and
its mailbox) to go to. The partner is keyed by the Intacct VENDORID (``partnerName`` and ``code``).
A vendor Sterling cannot take (no e-mail or phone: Sterling requires them) gets a
``partner_rejected`` AUDIT line naming the missing field.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from mlc.formats.mapping import get_path
from mlc.hooks.intacct import IntacctHook
from mlc.hooks.intacct_reads import chunked
from mlc.hooks.intacct_xml import MAX_IN_VALUES
from mlc.hooks.sterling import SterlingError, SterlingHook
from mlc.operators.audit import audit
from mlc.operators.progress import commit_watermark, waived_keys
from mlc.operators.staging import staged_records


def partner_from_vendor(vendor: Mapping[str, Any], community: str, time_zone: str,
                        overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SFG trading partner for one Intacct vendor, with the partner profile's ``overrides`` laid over what the
    vendor says (every sync, so a re-sync never undoes them); raises ``ValueError`` naming a missing field."""
    vendor_id = str(vendor.get("VENDORID") or "").strip()
    name = str(vendor.get("NAME") or "").strip()
    first, _, rest = name.partition(" ")
    partner = {"partnerName": vendor_id, "code": vendor_id, "community": community, "authenticationType": "Local",
               "username": vendor_id.lower(), "emailAddress": str(get_path(vendor, "DISPLAYCONTACT.EMAIL1") or "").strip(),
               "phone": str(get_path(vendor, "DISPLAYCONTACT.PHONE1") or "").strip(), "givenName": first,
               "surname": rest or first, "timeZone": time_zone,
               "addressLine1": str(get_path(vendor, "DISPLAYCONTACT.MAILADDRESS.ADDRESS1") or ""),
               "city": str(get_path(vendor, "DISPLAYCONTACT.MAILADDRESS.CITY") or ""),
               "postalCode": str(get_path(vendor, "DISPLAYCONTACT.MAILADDRESS.ZIP") or ""),
               "isInitiatingConsumer": True, "isInitiatingProducer": True, "isListeningConsumer": False,
               "isListeningProducer": False, "doesUseSSH": False, "useGlobalMailbox": False}
    partner.update(overrides or {})
    for field, key, value in (("VENDORID", "partnerName", vendor_id), ("NAME", "givenName", name),
                              ("DISPLAYCONTACT.EMAIL1", "emailAddress", None), ("DISPLAYCONTACT.PHONE1", "phone", None)):
        if not (value if value is not None else partner[key]):
            raise ValueError(f"{field} is empty; Sterling needs it for a trading partner")
    return partner


class SterlingPartnersOperator(BaseOperator):
    """Create or update a trading partner per vendor; XCom: the partners by VENDORID with their status.

    :param vendors_task_id: the extract task whose XCom names the staged vendors.
    :param bills_task_id: the extract task whose XCom names the staged bills (their vendors must exist).
    :param community: the Sterling community partners join (templated).
    :param partner_fields: trading partner fields from the partner profile, laid over the vendor's on every sync.
    """

    template_fields: Sequence[str] = ("waive", "community", "sterling_conn_id", "intacct_conn_id", "dry_run")
    ui_color = "#fff2cc"

    def __init__(self, *, vendors_task_id: str, bills_task_id: str, community: str = "MLC Suppliers",
                 time_zone: str = "-005", sterling_conn_id: str = SterlingHook.default_conn_name,
                 intacct_conn_id: str = IntacctHook.default_conn_name, dry_run: Any = False, waive: Any = None,
                 partner_fields: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waive, self.partner_fields = waive, dict(partner_fields or {})
        self.vendors_task_id, self.bills_task_id = vendors_task_id, bills_task_id
        self.community, self.time_zone, self.dry_run = community, time_zone, dry_run
        self.sterling_conn_id, self.intacct_conn_id = sterling_conn_id, intacct_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from mlc.operators.checks import truthy

        ti = context["ti"]
        vendors_staged, bills_staged = ti.xcom_pull(task_ids=self.vendors_task_id), ti.xcom_pull(task_ids=self.bills_task_id)
        vendors = {str(v.get("VENDORID")): v for v in staged_records(vendors_staged["uri"])} if vendors_staged else {}
        extracted = set(vendors)
        billed = sorted({str(b.get("VENDORID")) for b in staged_records(bills_staged["uri"])} if bills_staged else set())
        if not vendors and not billed:
            raise AirflowSkipException("no vendor changed and no bill in the window")
        sterling = SterlingHook(self.sterling_conn_id)
        sterling.warn_if_admin()  # least privilege: a warning in the log when the API user administers users
        unknown = [v for v in billed if v not in vendors and sterling.get_partner(v) is None]
        if unknown:  # a bill's vendor that is not a partner yet: read it from Intacct and create it
            intacct = IntacctHook(self.intacct_conn_id)
            for chunk in chunked(unknown, MAX_IN_VALUES):
                for vendor in intacct.iter_query("VENDOR", None, filter=("in", "VENDORID", list(chunk))):
                    vendors[str(vendor.get("VENDORID"))] = vendor
        outcome: dict[str, str] = {}
        waived = waived_keys(self.waive)
        for vendor_id in sorted(vendors):
            if vendor_id in waived:
                outcome[vendor_id] = "waived"
                audit("partner_waived", context, logger=self.log, vendor=vendor_id,
                      reason="listed in the waive Param: not synced")
                continue
            try:
                partner = partner_from_vendor(vendors[vendor_id], self.community, self.time_zone, self.partner_fields)
            except ValueError as exc:
                outcome[vendor_id] = "rejected"
                audit("partner_rejected", context, logger=self.log, vendor=vendor_id, reason=str(exc))
                continue
            if truthy(self.dry_run):
                outcome[vendor_id] = "dry_run"
                audit("partner_skipped", context, logger=self.log, vendor=vendor_id, reason="dry_run")
                continue
            try:  # a new partner gets a random Local password, never logged or stored; the partner resets it
                status, partner_id = sterling.upsert_partner(partner, new_password=secrets.token_urlsafe(18))
            except SterlingError as exc:
                outcome[vendor_id] = "rejected"
                audit("partner_rejected", context, logger=self.log, vendor=vendor_id, reason=str(exc),
                      error_code=exc.code)
                continue
            outcome[vendor_id] = status
            audit("partner_synced", context, logger=self.log, vendor=vendor_id, partner=partner_id, status=status,
                  community=partner["community"], overrides=",".join(sorted(self.partner_fields)) or None)
        counts = {s: sum(1 for v in outcome.values() if v == s) for s in sorted(set(outcome.values()))}
        self.log.info("Trading partners: %s (Sterling calls: %s)", counts, sterling.calls)
        failed = sorted(v for v, s in outcome.items() if s == "rejected")
        ti.xcom_push(key="failed", value=failed)  # upload_bills holds these vendors' bills back
        if not failed and vendors_staged and not truthy(self.dry_run):
            commit_watermark(context, vendors_staged.get("watermark"), logger=self.log)
        if failed:
            raise AirflowException(
                f"{len(failed)} trading partner(s) could not be created or updated: {', '.join(failed[:20])}"
                f"{' and more' if len(failed) > 20 else ''} (each partner_rejected AUDIT line says why). Their bills "
                "wait; the other partners are synced. Fix the vendors in Intacct (or Sterling's refusal), then clear "
                "this task.")
        synced = sum(1 for v in extracted if outcome.get(v) not in (None, "rejected", "waived"))  # of those staged
        return {"partners": outcome, "counts": counts, "vendors_synced": synced,
                "vendors_waived": sum(1 for v in extracted if outcome.get(v) == "waived")}
