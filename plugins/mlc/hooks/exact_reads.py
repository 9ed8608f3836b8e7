"""What ExactOnlineHook reads (reference/exact-online.md §4–6, §11.3–4), with the widest pages Exact
offers: purchase entries with their lines by ``$expand`` (60 entries a page, a nested ``__next``
followed for an entry with more than 60 lines), suppliers, GL accounts and payments from the bulk
endpoints (1,000 rows a page), incremental by ``Modified`` windows with an overlap and de-duplicated,
or by sync ``Timestamp`` cursors.

Exact's ``/Date(ms)/`` values are Amsterdam wall-clock times written as epoch milliseconds: a
timestamp (Modified, Created) is turned into UTC; a date-only field (EntryDate, DueDate...) keeps
its calendar date. Window bounds go out as Amsterdam ``datetime''`` literals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

EXACT_TZ = ZoneInfo("Europe/Amsterdam")
_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
DATE_ONLY = {"EntryDate", "DueDate", "InvoiceDate", "EndDate", "StartDate", "PaymentDate", "ReportingDate"}

ENTRY_FIELDS = ("EntryID", "EntryNumber", "InvoiceNumber", "YourRef", "EntryDate", "DueDate", "Journal", "Supplier",
                "SupplierName", "Currency", "AmountFC", "AmountDC", "VATAmountFC", "Description", "Status", "Type",
                "Created", "Modified")
LINE_FIELDS = ("ID", "EntryID", "LineNumber", "GLAccount", "GLAccountCode", "GLAccountDescription", "Description",
               "Quantity", "AmountFC", "AmountDC", "VATCode", "VATPercentage", "VATAmountFC", "CostCenter", "CostUnit")
OBJECTS: dict[str, dict[str, Any]] = {
    "suppliers": {"path": "bulk/CRM/Accounts", "key": "ID", "filter": "IsSupplier eq true",
                  "fields": ("ID", "Code", "Name", "AddressLine1", "Postcode", "City", "Country", "VATNumber", "Email",
                             "Status", "Blocked", "IsSupplier", "PurchaseCurrency", "Modified")},
    "gl_accounts": {"path": "bulk/Financial/GLAccounts", "key": "ID", "mandatory_filter": True,
                    "fields": ("ID", "Code", "Description", "Type", "TypeDescription", "BalanceType", "BalanceSide",
                               "IsBlocked", "Modified")},
    "gl_account_mappings": {"path": "financial/GLAccountClassificationMappings", "key": "ID", "windowed": False,
                            "fields": ("ID", "GLAccount", "GLAccountCode", "GLAccountDescription", "Classification",
                                       "ClassificationCode", "ClassificationDescription", "GLSchemeCode",
                                       "GLSchemeDescription")},
    "payments": {"path": "bulk/Cashflow/Payments", "key": "ID",
                 "fields": ("ID", "EntryID", "Account", "AccountCode", "AccountName", "AmountFC", "AmountDC", "Currency",
                            "DueDate", "EntryDate", "InvoiceDate", "InvoiceNumber", "YourRef", "PaymentReference",
                            "PaymentMethod", "PaymentBatchNumber", "Status", "TransactionEntryID", "Modified")},
    "cost_centres": {"path": "hrm/Costcenters", "key": "ID", "fields": ("ID", "Code", "Description", "EndDate",
                                                                         "Modified")},
    "cost_units": {"path": "hrm/Costunits", "key": "ID", "fields": ("ID", "Code", "Description", "EndDate", "Modified")},
}
SYNC_PATHS = {"suppliers": "sync/CRM/Accounts", "gl_accounts": "sync/Financial/GLAccounts"}


def parse_exact_date(value: Any, field: str = "") -> Any:
    """``/Date(ms)/`` → an ISO date (date-only fields) or an ISO UTC timestamp; anything else as it is."""
    if not isinstance(value, str):
        return value
    match = _DATE.fullmatch(value.strip())
    if not match:
        return value
    wall = datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)))
    if field in DATE_ONLY or (wall.hour == wall.minute == wall.second == 0 and field.endswith("Date")):
        return wall.date().isoformat()
    return wall.replace(tzinfo=EXACT_TZ).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


EVERYTHING = datetime(1900, 1, 1, tzinfo=timezone.utc)  # before any record of any division


def exact_literal(moment: datetime) -> str:
    """A UTC moment as the Amsterdam ``datetime''`` literal Exact compares its wall-clock values with."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return f"datetime'{aware.astimezone(EXACT_TZ).replace(tzinfo=None).isoformat(timespec='seconds')}'"


def clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row without OData metadata, dates decoded, Account codes unpadded."""
    out = {}
    for name, value in row.items():
        if name == "__metadata" or (isinstance(value, dict) and "__deferred" in value):
            continue
        out[name] = parse_exact_date(value, name)
        if name in ("Code", "AccountCode", "SupplierCode") and isinstance(out[name], str):
            out[name] = out[name].strip()
    return out


class ExactReads:
    """Read operations of :class:`mlc.hooks.exact_online.ExactOnlineHook` (needs ``iter_pages``)."""

    def iter_pages(self, path: str, params: Mapping[str, str]) -> Iterator[list[dict[str, Any]]]:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _window(since: datetime | None, until: datetime | None, overlap: timedelta) -> list[str]:
        parts = []
        if since is not None:
            parts.append(f"Modified ge {exact_literal(since - overlap)}")
        if until is not None:
            parts.append(f"Modified lt {exact_literal(until)}")
        return parts

    def iter_rows(self, path: str, fields: Sequence[str], filters: Sequence[str] = (), expand: str = ""
                  ) -> Iterator[dict[str, Any]]:
        params = {"$select": ",".join(fields)}
        if filters:
            params["$filter"] = " and ".join(filters)
        if expand:
            params["$expand"] = expand
        for page in self.iter_pages(path, params):
            yield from page

    def iter_purchase_entries(self, *, since: datetime | None = None, until: datetime | None = None,
                              overlap: timedelta = timedelta(hours=2)) -> Iterator[dict[str, Any]]:
        """Purchase entries modified in the window with their lines (``PurchaseEntryLines``), each once."""
        fields = [*ENTRY_FIELDS, *(f"PurchaseEntryLines/{f}" for f in LINE_FIELDS)]
        seen: set[str] = set()
        for row in self.iter_rows("purchaseentry/PurchaseEntries", fields, self._window(since, until, overlap),
                                  expand="PurchaseEntryLines"):
            if row["EntryID"] in seen:
                continue
            seen.add(row["EntryID"])
            lines = row.get("PurchaseEntryLines") or {}
            items = list(lines.get("results") or []) if isinstance(lines, dict) else list(lines)
            seen: set[str] = set()
            next_url = self.next_link({"d": lines}, seen) if isinstance(lines, dict) else None  # type: ignore[attr-defined]
            while next_url:  # an entry with more than 60 lines
                payload = self.get_json(next_url)  # type: ignore[attr-defined]
                items.extend(self.rows_of(payload))  # type: ignore[attr-defined]
                next_url = self.next_link(payload, seen)  # type: ignore[attr-defined]
            entry = clean({k: v for k, v in row.items() if k != "PurchaseEntryLines"})
            entry["PurchaseEntryLines"] = sorted((clean(i) for i in items), key=lambda i: i.get("LineNumber") or 0)
            yield entry

    def iter_object(self, name: str, *, since: datetime | None = None, until: datetime | None = None,
                    overlap: timedelta = timedelta(hours=2)) -> Iterator[dict[str, Any]]:
        """One of :data:`OBJECTS`, modified in the window (a full read for those without Modified), each once."""
        spec = OBJECTS[name]
        filters = [spec["filter"]] if spec.get("filter") else []
        if spec.get("windowed", True):
            filters += self._window(since, until, overlap)
        if not filters and spec.get("mandatory_filter"):
            # Exact refuses an unfiltered GET here ("mandatory filtering"); a whole read asks from the beginning.
            filters = self._window(EVERYTHING, None, timedelta(0))
        seen: set[str] = set()
        for row in self.iter_rows(spec["path"], spec["fields"], filters):
            if row[spec["key"]] not in seen:
                seen.add(row[spec["key"]])
                yield clean(row)

    def iter_sync(self, name: str, fields: Sequence[str], after: int = 1) -> Iterator[dict[str, Any]]:
        """Rows of a sync endpoint with ``Timestamp`` above ``after`` (the caller keeps the highest as its cursor)."""
        wanted = list(dict.fromkeys([*fields, "Timestamp"]))
        for row in self.iter_rows(SYNC_PATHS[name], wanted, [f"Timestamp gt {int(after)}L"]):
            yield clean({**row, "Timestamp": int(row["Timestamp"])})

    def supplier_codes(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """Supplier ID → its code and name, read once from the bulk endpoint (Exact cannot expand master data)."""
        found: dict[str, dict[str, Any]] = {}
        for row in self.iter_rows(OBJECTS["suppliers"]["path"], ("ID", "Code", "Name", "VATNumber"),
                                  [OBJECTS["suppliers"]["filter"]]):
            if row["ID"] in ids:
                found[row["ID"]] = clean(row)
        return found
