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
DATE_ONLY = {"EntryDate", "DueDate", "InvoiceDate", "EndDate", "StartDate", "PaymentDate", "ReportingDate", "OrderDate",
             "ReceiptDate", "Date"}

ENTRY_FIELDS = ("EntryID", "EntryNumber", "InvoiceNumber", "YourRef", "EntryDate", "DueDate", "Journal", "Supplier",
                "SupplierName", "Currency", "AmountFC", "AmountDC", "VATAmountFC", "Description", "Status", "Type",
                "Created", "Modified")
LINE_FIELDS = ("ID", "EntryID", "LineNumber", "GLAccount", "GLAccountCode", "GLAccountDescription", "Description",
               "Quantity", "AmountFC", "AmountDC", "VATCode", "VATPercentage", "VATAmountFC", "CostCenter", "CostUnit")
ORDER_FIELDS = ("PurchaseOrderID", "OrderNumber", "OrderDate", "Supplier", "SupplierCode", "SupplierName", "Currency",
                "AmountFC", "Description", "YourRef", "Created", "Modified")
ORDER_LINE_FIELDS = ("ID", "PurchaseOrderID", "LineNumber", "ItemCode", "ItemDescription", "Description", "Quantity",
                     "Unit", "NetPrice", "AmountFC", "CostCenter", "CostUnit", "ReceiptDate")
#: sync/Deleted's EntityType codes (reference/exact-online.md §5)
ENTITY_TYPES = {1: "transaction line", 2: "account", 7: "GL account", 10: "payment term", 18: "GL classification"}
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
    # Every GL line (purchase, sales, bank, memorial journals), 1,000 a page; Modified is one of its mandatory filters.
    "gl_transactions": {"path": "bulk/Financial/TransactionLines", "key": "ID", "mandatory_filter": True,
                        "fields": ("ID", "EntryID", "EntryNumber", "LineNumber", "Date", "FinancialYear",
                                   "FinancialPeriod", "JournalCode", "Type", "GLAccountCode", "GLAccountDescription",
                                   "Description", "AmountDC", "AmountFC", "Currency", "CostCenter", "CostUnit",
                                   "AccountName", "YourRef", "Modified")},
}
SYNC_PATHS = {"suppliers": "sync/CRM/Accounts", "gl_accounts": "sync/Financial/GLAccounts", "deleted": "sync/Deleted",
              "gl_transactions": "sync/Financial/TransactionLines"}
#: the exports read through Exact's sync endpoints, as Exact recommends for changes: the SyncTimestamp endPoint
#: that starts a window, and the rows' predicate (sync filters on the row version only)
SYNCED = {"suppliers": ("Accounts", lambda row: row.get("IsSupplier") is True),
          "gl_transactions": ("TransactionLines", lambda row: True)}


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
        yield from self._with_lines("purchaseentry/PurchaseEntries", "EntryID", ENTRY_FIELDS, "PurchaseEntryLines",
                                    LINE_FIELDS, self._window(since, until, overlap))

    def iter_purchase_orders(self, *, since: datetime | None = None, until: datetime | None = None,
                             overlap: timedelta = timedelta(hours=2)) -> Iterator[dict[str, Any]]:
        """Purchase orders modified in the window with their lines (``PurchaseOrderLines``), each once."""
        yield from self._with_lines("purchaseorder/PurchaseOrders", "PurchaseOrderID", ORDER_FIELDS,
                                    "PurchaseOrderLines", ORDER_LINE_FIELDS, self._window(since, until, overlap))

    def _with_lines(self, path: str, key: str, fields: Sequence[str], navigation: str, line_fields: Sequence[str],
                    filters: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Rows with their lines expanded in place (an expansion stops at 60 lines: the rest through __next)."""
        seen_rows: set[str] = set()
        for row in self.iter_rows(path, [*fields, *(f"{navigation}/{f}" for f in line_fields)], filters,
                                  expand=navigation):
            if row[key] in seen_rows:
                continue
            seen_rows.add(row[key])
            lines = row.get(navigation) or {}
            items = list(lines.get("results") or []) if isinstance(lines, dict) else list(lines)
            seen: set[str] = set()
            next_url = self.next_link({"d": lines}, seen) if isinstance(lines, dict) else None  # type: ignore[attr-defined]
            while next_url:  # more than 60 lines
                payload = self.get_json(next_url)  # type: ignore[attr-defined]
                items.extend(self.rows_of(payload))  # type: ignore[attr-defined]
                next_url = self.next_link(payload, seen)  # type: ignore[attr-defined]
            record = clean({k: v for k, v in row.items() if k != navigation})
            record[navigation] = sorted((clean(i) for i in items), key=lambda i: i.get("LineNumber") or 0)
            yield record

    def sync_start(self, endpoint: str, since: datetime) -> int | None:
        """The row version to read ``endpoint``'s sync API from for changes since ``since`` (Exact's SyncTimestamp:
        the first record modified at or after it); ``None`` when nothing changed since."""
        rows = [row for page in self.iter_pages("read/sync/Sync/SyncTimestamp",
                                                {"modified": exact_literal(since), "endPoint": f"'{endpoint}'"})
                for row in page]
        found = [int(r["TimeStampAsBigInt"]) for r in rows if r.get("TimeStampAsBigInt") not in (None, "")]
        return min(found) if found else None

    def iter_synced(self, name: str, *, since: datetime | None = None, until: datetime | None = None,
                    overlap: timedelta = timedelta(hours=2)) -> Iterator[dict[str, Any]]:
        """An export of :data:`SYNCED` modified in the window, through its sync endpoint (1,000 rows a page, by
        row version): from the SyncTimestamp of the window's start (one before it, so the first record is read
        too: rows come once each, by key), the window's end applied here."""
        endpoint, wanted = SYNCED[name]
        after = 1
        if since is not None:
            start = self.sync_start(endpoint, since - overlap)
            if start is None:
                return
            after = start - 1
        fields = OBJECTS[name]["fields"]
        seen: set[str] = set()
        for row in self.iter_sync(name, fields, after=after):
            modified = row.get("Modified")
            moment = datetime.fromisoformat(str(modified).replace("Z", "+00:00")) if modified else None
            if until is not None and moment is not None and moment >= until:
                continue
            if since is not None and moment is not None and moment < since - overlap:
                continue
            if wanted(row) and row["ID"] not in seen:
                seen.add(row["ID"])
                yield {k: v for k, v in row.items() if k != "Timestamp"}

    def iter_deleted(self, *, since: datetime | None = None, until: datetime | None = None,
                     overlap: timedelta = timedelta(hours=2)) -> Iterator[dict[str, Any]]:
        """Deletions recorded in ``sync/Deleted`` with their ``DeletedDate`` in the window (Amsterdam wall clock),
        each with its entity named. The sync endpoint filters on its row version only, so every deletion is read
        and the window applied here: deletions are few, and this is the only place Exact shows them."""
        low = since - overlap if since is not None else None
        for row in self.iter_sync("deleted", ("ID", "EntityKey", "EntityType", "DeletedBy", "DeletedDate", "Division")):
            when = row.get("DeletedDate")
            moment = datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None
            if moment is not None and moment.tzinfo is None:  # a deletion at midnight comes back as a date
                moment = moment.replace(tzinfo=EXACT_TZ)
            if moment is not None and ((low is not None and moment < low) or (until is not None and moment >= until)):
                continue
            yield {**row, "Entity": ENTITY_TYPES.get(int(row.get("EntityType") or 0),
                                                     f"entity type {row.get('EntityType')}")}

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
