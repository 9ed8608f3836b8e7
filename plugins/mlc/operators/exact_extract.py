"""Extract from Exact Online into staging: purchase invoices (with their lines and the supplier's
code, joined on the client because Exact cannot expand master data), suppliers, GL accounts and
their classification mappings, payments (grouped into one remittance per payment), cost centres
and cost units, as JSON lines (window and staging: :mod:`mlc.operators.extract_base`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from mlc.hooks.exact_online import ExactOnlineHook
from mlc.operators.extract_base import StagedExtractOperator

EXPORTS = ("purchase_invoices", "suppliers", "gl_accounts", "gl_account_mappings", "payments", "cost_centres",
           "cost_units", "purchase_orders", "gl_transactions", "deletes")


def remittances(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exact's payment rows (one per invoice paid) → one record per payment with its invoices.

    A payment is the supplier + its payment reference (else the payment batch, else the row).
    """
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (str(r.get("AccountCode")), str(r.get("PaymentReference")), str(r["ID"]))):
        reference = row.get("PaymentReference") or (f"BATCH-{row['PaymentBatchNumber']}"
                                                    if row.get("PaymentBatchNumber") else row["ID"])
        key = (str(row.get("AccountCode") or row.get("Account")), str(reference))
        payment = grouped.setdefault(key, {
            "PaymentReference": reference, "PaymentDate": row.get("EntryDate"), "PaymentMethod": row.get("PaymentMethod"),
            "Currency": row.get("Currency"), "SupplierName": row.get("AccountName"),
            "SupplierCode": row.get("AccountCode"), "AmountFC": 0.0, "Invoices": [], "IDs": []})
        payment["AmountFC"] = round(payment["AmountFC"] + float(row.get("AmountFC") or 0), 2)
        payment["IDs"].append(row["ID"])
        payment["Invoices"].append({"YourRef": row.get("YourRef") or str(row.get("InvoiceNumber") or ""),
                                    "InvoiceNumber": row.get("InvoiceNumber"), "InvoiceDate": row.get("InvoiceDate"),
                                    "AmountPaid": row.get("AmountFC"), "InvoiceAmount": row.get("AmountFC"),
                                    "EntryID": row.get("TransactionEntryID")})
    return list(grouped.values())


class ExactExtractOperator(StagedExtractOperator):
    """Stage one export of Exact Online records modified in the window as JSON lines.

    :param export: one of :data:`EXPORTS`.
    :param division: the division to read (a partner profile's); default: the connection's.
    :param exact_online_conn_id: Exact Online connection (templated). Other parameters:
        :class:`mlc.operators.extract_base.StagedExtractOperator`.
    """

    EXPORTS = EXPORTS
    template_fields: Sequence[str] = (*StagedExtractOperator.template_fields, "exact_online_conn_id")

    def __init__(self, *, exact_online_conn_id: str = ExactOnlineHook.default_conn_name, division: int | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("pool", "exact_online_default")  # one caller per division: Exact pages must be sequential
        super().__init__(**kwargs)
        self.exact_online_conn_id, self.division = exact_online_conn_id, division

    @cached_property
    def hook(self) -> ExactOnlineHook:
        return ExactOnlineHook(self.exact_online_conn_id, division=self.division)

    @property
    def source_conn_id(self) -> str:
        return str(self.exact_online_conn_id)

    lineage_scheme = "exactonline"

    def calls_made(self) -> dict[str, Any]:
        return {"requests": self.hook.calls, "rate_limited": self.hook.rate_limited}

    def records(self, since: datetime | None, until: datetime | None, overlap: timedelta) -> Iterator[dict[str, Any]]:
        hook = self.hook
        if self.export == "purchase_invoices":
            codes = {s["ID"]: s for s in hook.iter_object("suppliers")}  # every supplier, 1,000 a call
            for entry in hook.iter_purchase_entries(since=since, until=until, overlap=overlap):
                supplier = codes.get(entry.get("Supplier") or "", {})
                yield {**entry, "SupplierCode": supplier.get("Code"), "SupplierVATNumber": supplier.get("VATNumber")}
        elif self.export == "payments":
            yield from remittances(list(hook.iter_object("payments", since=since, until=until, overlap=overlap)))
        elif self.export in ("suppliers", "gl_transactions"):  # changes through the sync API, as Exact recommends
            yield from hook.iter_synced(self.export, since=since, until=until, overlap=overlap)
        elif self.export == "purchase_orders":
            yield from hook.iter_purchase_orders(since=since, until=until, overlap=overlap)
        elif self.export == "deletes":
            if since is None:
                raise ValueError("deletions are read for a window: give window_start or run on a schedule")
            yield from hook.iter_deleted(since=since, until=until, overlap=overlap)
        elif self.export in ("gl_account_mappings", "gl_accounts", "cost_centres", "cost_units"):
            yield from hook.iter_object(self.export)  # reference lists: always whole (small, and cheap to read)
        else:
            yield from hook.iter_object(self.export, since=since, until=until, overlap=overlap)
