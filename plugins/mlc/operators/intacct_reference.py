"""Intacct's reference data as far as a batch of inbound rows needs it: vendors, GL accounts and
dimensions, each read once per task (by ``in`` filters on the values the rows use), so checking
1,000 invoices costs a handful of requests, not one per row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mlc.formats.feed import RowError
from mlc.formats.stampli import DIMENSION_OBJECTS, normalise_name
from mlc.hooks.intacct_reads import chunked
from mlc.hooks.intacct_xml import MAX_IN_VALUES

ID_FIELDS = {"VENDOR": "VENDORID", "GLACCOUNT": "ACCOUNTNO", "DEPARTMENT": "DEPARTMENTID", "LOCATION": "LOCATIONID",
             "CLASS": "CLASSID", "PROJECT": "PROJECTID", "CUSTOMER": "CUSTOMERID", "ITEM": "ITEMID"}


class IntacctReference:
    """Looks values up in Intacct, remembering what it read; answers with a :class:`RowError` when
    a value does not exist or is inactive."""

    def __init__(self, hook: Any) -> None:
        self.hook = hook
        self.known: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.asked: dict[str, set[str]] = defaultdict(set)
        self._by_name: dict[str, list[dict[str, Any]]] | None = None

    def load(self, obj: str, values: Iterable[str]) -> None:
        """Read the records of ``obj`` whose id is among ``values`` and not asked for before."""
        ident = ID_FIELDS[obj]
        wanted = sorted({v for v in values if v} - self.asked[obj])
        self.asked[obj].update(wanted)
        fields = [ident, "STATUS", "NAME" if obj in ("VENDOR", "LOCATION", "CLASS", "PROJECT", "CUSTOMER", "ITEM")
                  else "TITLE"]
        for chunk in chunked(wanted, MAX_IN_VALUES):
            for record in self.hook.iter_query(obj, fields, filter=("in", ident, list(chunk))):
                self.known[obj][str(record.get(ident, ""))] = record

    def _vendors_by_name(self) -> dict[str, list[dict[str, Any]]]:
        if self._by_name is None:  # every vendor, once: only when a row names a vendor without a known id
            self._by_name = defaultdict(list)
            for record in self.hook.iter_query("VENDOR", ["VENDORID", "NAME", "STATUS"]):
                self._by_name[normalise_name(str(record.get("NAME", "")))].append(record)
                self.known["VENDOR"].setdefault(str(record.get("VENDORID", "")), record)
        return self._by_name

    def vendor(self, vendor_id: str, vendor_name: str, row: int | None = None) -> tuple[str, str]:
        """(VENDORID, how it matched): by ID first, then by normalised name (one match only)."""
        record, how = None, "id"
        if vendor_id:
            record = self.known["VENDOR"].get(vendor_id)
        if record is None and vendor_name:
            matches = self._vendors_by_name().get(normalise_name(vendor_name), [])
            active = [m for m in matches if str(m.get("STATUS", "active")).lower() == "active"] or matches
            if len(active) > 1:
                raise RowError(f"vendor name {vendor_name!r} matches {len(active)} Intacct vendors "
                               f"({', '.join(str(m['VENDORID']) for m in active[:5])}); give the vendor ID",
                               row=row, field="vendor_name")
            record, how = (active[0], "name") if active else (None, how)
        if record is None:
            shown = " / ".join(repr(v) for v in (vendor_id, vendor_name) if v)
            raise RowError(f"vendor {shown} not found in Intacct by ID or by name", row=row,
                           field="vendor_id" if vendor_id else "vendor_name")
        if str(record.get("STATUS", "active")).lower() != "active":
            raise RowError(f"vendor {record['VENDORID']} is {record.get('STATUS')} in Intacct", row=row,
                           field="vendor_id")
        return str(record["VENDORID"]), how

    def check(self, obj: str, value: str, row: int | None, field: str) -> None:
        record = self.known[obj].get(value)
        label = "GL account" if obj == "GLACCOUNT" else obj.lower()
        if record is None:
            raise RowError(f"{label} {value!r} does not exist in Intacct", row=row, field=field)
        if str(record.get("STATUS", "active")).lower() != "active":
            raise RowError(f"{label} {value!r} is {record.get('STATUS')} in Intacct", row=row, field=field)

    def check_dimension(self, name: str, value: str, row: int | None) -> None:
        self.check(DIMENSION_OBJECTS[name], value, row, name)
