"""The Exact Online sandbox's division: deterministic data of N purchase entries and what they refer
to (suppliers, GL accounts and their classification mappings, cost centres and units, payments), the
general-ledger transaction lines they make, purchase orders with their lines, and deletions (sync/Deleted:
suppliers and open purchase entries removed, as Exact records them).

Datetimes are naive Europe/Amsterdam wall-clock values (how Exact runs); every insert or update
raises a division-wide row version ``Timestamp`` so the sync endpoints can page by it.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Row = dict[str, Any]

#: entity path (lower-case, after the division) -> (table, key field)
ENTITIES = {
    "purchaseentry/purchaseentries": ("entries", "EntryID"),
    "purchaseentry/purchaseentrylines": ("lines", "ID"),
    "crm/accounts": ("accounts", "ID"), "bulk/crm/accounts": ("accounts", "ID"), "sync/crm/accounts": ("accounts", "ID"),
    "financial/glaccounts": ("glaccounts", "ID"), "bulk/financial/glaccounts": ("glaccounts", "ID"),
    "sync/financial/glaccounts": ("glaccounts", "ID"),
    "financial/glaccountclassificationmappings": ("mappings", "ID"),
    "cashflow/payments": ("payments", "ID"), "bulk/cashflow/payments": ("payments", "ID"),
    "hrm/costcenters": ("costcenters", "ID"), "hrm/costunits": ("costunits", "ID"),
    "purchaseorder/purchaseorders": ("orders", "PurchaseOrderID"),
    "purchaseorder/purchaseorderlines": ("order_lines", "ID"),
    "financialtransaction/transactionlines": ("transactions", "ID"),
    "bulk/financial/transactionlines": ("transactions", "ID"),
    "sync/financial/transactionlines": ("transactions", "ID"),
    "sync/deleted": ("deleted", "ID"),
}
#: a navigation property expanded in place: name -> (child table, the child's parent key, the child's entity)
NAVIGATIONS = {"PurchaseEntryLines": ("lines", "EntryID", "purchaseentry/PurchaseEntryLines"),
               "PurchaseOrderLines": ("order_lines", "PurchaseOrderID", "purchaseorder/PurchaseOrderLines")}
#: sync/Deleted's EntityType for each table whose rows can be deleted (reference/exact-online.md §5)
ENTITY_TYPES = {"transactions": 1, "accounts": 2, "glaccounts": 7, "payments": 10}
#: CRUD and bulk endpoints with a sync sibling refuse a GET without one of these in $filter (§6)
MANDATORY_FILTER = {"accounts": ["Accountant", "ID", "Code", "IsSupplier", "IsSales", "Modified", "Name", "Status"],
                    "glaccounts": ["Code", "ID", "Modified", "Type"],
                    "transactions": ["Date", "EntryNumber", "FinancialYear", "GLAccount", "ID", "Modified"],
                    "orders": ["OrderDate", "OrderNumber", "PurchaseOrderID", "Supplier", "Modified"]}


@dataclass
class ExactSeed:
    invoices: int = 200
    seed: int = 11
    anchor: datetime = datetime(2026, 11, 16)  # Amsterdam wall clock; entries spread over the 30 days before
    lines: tuple[int, int] = (1, 5)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class ExactDivision:
    """One division's tables, thread-safe; rows are plain dicts as the REST API shows them."""

    def __init__(self, number: int = 3180461) -> None:
        self.number = number
        self.lock = threading.RLock()
        self.tables: dict[str, list[Row]] = {name: [] for name, _ in set(ENTITIES.values())}
        self.timestamp = 1000

    def _stamp(self, row: Row, when: datetime) -> Row:
        self.timestamp += 1
        row["Timestamp"] = self.timestamp
        row["Modified"] = when
        return row

    def touch(self, table: str, key: str, when: datetime, **changes: Any) -> None:
        """Change a row as a user would: new values, a new Modified and a new Timestamp."""
        _, key_field = next(v for v in ENTITIES.values() if v[0] == table)
        with self.lock:
            row = next(r for r in self.tables[table] if r[key_field] == key)
            row.update(changes)
            self._stamp(row, when)

    def delete(self, table: str, key: str, when: datetime) -> None:
        """Remove a row as a user would: it disappears from its endpoints and shows in sync/Deleted."""
        _, key_field = next(v for v in ENTITIES.values() if v[0] == table)
        with self.lock:
            self.tables[table] = [r for r in self.tables[table] if r[key_field] != key]
            self.tables["deleted"].append(self._stamp({
                "ID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{table}:{key}")), "EntityKey": key,
                "EntityType": ENTITY_TYPES[table], "DeletedBy": "00000000-0000-0000-0000-000000000001",
                "DeletedDate": when, "Division": self.number}, when))

    def seed(self, spec: ExactSeed) -> None:
        rng = random.Random(spec.seed)
        start = spec.anchor - timedelta(days=30)
        t = self.tables

        def moment(fraction: float) -> datetime:
            return (start + timedelta(seconds=int(fraction * 30 * 86400))).replace(microsecond=0)

        accounts = [("4000", "Inkoopwaarde", "W"), ("4100", "Vracht inkoop", "W"), ("4200", "Verpakking", "W"),
                    ("4300", "Energie", "W"), ("4400", "Huur", "W"), ("4500", "Advieskosten", "W"),
                    ("1600", "Crediteuren", "B")]
        for n, (code, description, balance) in enumerate(accounts):
            t["glaccounts"].append(self._stamp({
                "ID": _guid(rng), "Code": code, "Description": description, "Type": 22 if code == "1600" else 110,
                "TypeDescription": "Crediteuren" if code == "1600" else "Kosten", "BalanceType": balance,
                "BalanceSide": "C" if code == "1600" else "D", "IsBlocked": False}, moment(n / 200)))
        for gl in t["glaccounts"]:
            t["mappings"].append({"ID": _guid(rng), "GLAccount": gl["ID"], "GLAccountCode": gl["Code"],
                                  "GLAccountDescription": gl["Description"], "Classification": _guid(rng),
                                  "ClassificationCode": f"RGS.{gl['Code']}", "ClassificationDescription":
                                  f"RGS {gl['Description']}", "GLSchemeCode": "RGS", "GLSchemeDescription": "RGS 3.5"})
        for kind, codes in (("costcenters", ["100", "200", "300"]), ("costunits", ["P1", "P2"])):
            for n, code in enumerate(codes):
                t[kind].append(self._stamp({"ID": _guid(rng), "Code": code, "Description": f"{kind[:-1]} {code}",
                                            "EndDate": None, "Created": moment(0)}, moment(n / 100)))
        names = ["Lieferant", "Bakkerij", "Verpakking", "Transport", "Kantoor", "Metaal", "Zuivel", "Drukkerij"]
        suppliers = []
        for i in range(1, max(10, min(spec.invoices // 20, 20000)) + 1):
            row = self._stamp({
                "ID": _guid(rng), "Code": f"{20000 + i:>18}", "Name": f"{names[i % len(names)]} {i:05d} B.V.",
                "IsSupplier": True, "IsSales": i % 9 == 0, "Status": "C", "Blocked": i % 23 == 0,
                "AddressLine1": f"Industrieweg {i}", "Postcode": f"{1000 + i % 8999} AB", "City": "Utrecht",
                "Country": "NL", "VATNumber": f"NL{100000000 + i}B01", "Email": f"ap{i}@leverancier{i}.example",
                "PurchaseCurrency": "EUR"}, moment(rng.random() * 0.9))
            t["accounts"].append(row)
            suppliers.append(row)
        for i in range(1, 6):  # customers: not suppliers
            t["accounts"].append(self._stamp({"ID": _guid(rng), "Code": f"{10000 + i:>18}", "Name": f"Klant {i}",
                                              "IsSupplier": False, "IsSales": True, "Status": "C", "Blocked": False,
                                              "Country": "NL", "City": "Amsterdam", "AddressLine1": None,
                                              "Postcode": None, "VATNumber": None, "Email": None,
                                              "PurchaseCurrency": None}, moment(rng.random())))
        costs = [a for a in t["glaccounts"] if a["BalanceType"] == "W"]
        for i in range(1, spec.invoices + 1):
            supplier = suppliers[rng.randrange(len(suppliers))]
            when = moment(i / (spec.invoices + 1))
            entry_id = _guid(rng)
            lines, total = [], 0.0
            for n in range(1, rng.randint(*spec.lines) + 1):
                gl = costs[rng.randrange(len(costs))]
                amount = round(rng.randint(500, 250000) / 100, 2)
                vat = round(amount * 0.21, 2)
                total += amount + vat
                lines.append({"ID": _guid(rng), "EntryID": entry_id, "LineNumber": n, "GLAccount": gl["ID"],
                              "GLAccountCode": gl["Code"], "GLAccountDescription": gl["Description"],
                              "Description": f"{gl['Description']} regel {n}", "Quantity": 1.0, "AmountFC": amount,
                              "AmountDC": amount, "VATCode": "2", "VATPercentage": 0.21, "VATAmountFC": vat,
                              "CostCenter": t["costcenters"][n % 3]["Code"], "CostUnit": t["costunits"][n % 2]["Code"]})
            entry_date = when.replace(hour=0, minute=0, second=0)
            t["lines"].extend(lines)
            t["entries"].append(self._stamp({
                "EntryID": entry_id, "EntryNumber": 26100000 + i, "InvoiceNumber": 26100000 + i,
                "YourRef": f"SUP-{i:06d}", "EntryDate": entry_date, "DueDate": entry_date + timedelta(days=30),
                "Journal": "60", "Supplier": supplier["ID"], "SupplierName": supplier["Name"], "Currency": "EUR",
                "AmountFC": round(total, 2), "AmountDC": round(total, 2),
                "VATAmountFC": round(sum(line["VATAmountFC"] for line in lines), 2), "Description": f"Inkoop {i}",
                "Status": 20 if i % 3 else 50, "Type": 30, "Created": when}, when))
            if i % 3 == 0:  # processed and paid
                t["payments"].append(self._stamp({
                    "ID": _guid(rng), "EntryID": _guid(rng), "Account": supplier["ID"],
                    "AccountCode": supplier["Code"], "AccountName": supplier["Name"], "AmountFC": round(total, 2),
                    "AmountDC": round(total, 2), "Currency": "EUR", "DueDate": entry_date + timedelta(days=30),
                    "EntryDate": entry_date + timedelta(days=10), "InvoiceDate": entry_date,
                    "InvoiceNumber": 26100000 + i, "YourRef": f"SUP-{i:06d}", "PaymentReference": f"BETALING-{i:06d}",
                    "PaymentMethod": "B", "PaymentBatchNumber": 500 + i // 30, "Status": 50,
                    "TransactionEntryID": entry_id}, when + timedelta(days=1) if when + timedelta(days=1) < spec.anchor
                    else when))

        self._seed_ledger_orders_and_deletions(spec, moment, suppliers)

    def _seed_ledger_orders_and_deletions(self, spec: ExactSeed, moment: Any, suppliers: list[Row]) -> None:
        """The GL lines each purchase entry made, purchase orders with lines, and deletions: drawn from their own
        random stream, so the entries, suppliers and payments above stay what they were."""
        t, rng = self.tables, random.Random(spec.seed + 5)
        by_entry: dict[str, list[Row]] = {}
        for line in t["lines"]:
            by_entry.setdefault(line["EntryID"], []).append(line)
        creditors = next(a for a in t["glaccounts"] if a["Code"] == "1600")
        vat = self._stamp({"ID": _guid(rng), "Code": "1520", "Description": "Te vorderen BTW", "Type": 20,
                           "TypeDescription": "Overige vorderingen", "BalanceType": "B", "BalanceSide": "D",
                           "IsBlocked": False}, moment(0.001))
        t["glaccounts"].append(vat)
        for entry in t["entries"]:
            date = entry["EntryDate"]
            common = {"EntryID": entry["EntryID"], "EntryNumber": entry["EntryNumber"], "Date": date,
                      "FinancialYear": date.year, "FinancialPeriod": date.month, "JournalCode": entry["Journal"],
                      "Type": 30, "Currency": entry["Currency"], "Account": entry["Supplier"],
                      "AccountName": entry["SupplierName"], "YourRef": entry["YourRef"]}
            rows = [{**common, "ID": line["ID"], "LineNumber": line["LineNumber"], "GLAccount": line["GLAccount"],
                     "GLAccountCode": line["GLAccountCode"], "GLAccountDescription": line["GLAccountDescription"],
                     "Description": line["Description"], "AmountDC": line["AmountDC"], "AmountFC": line["AmountFC"],
                     "CostCenter": line["CostCenter"], "CostUnit": line["CostUnit"]} for line in by_entry[entry["EntryID"]]]
            vat_amount = round(sum(line["VATAmountFC"] for line in by_entry[entry["EntryID"]]), 2)
            rows.append({**common, "ID": _guid(rng), "LineNumber": 0, "GLAccount": vat["ID"], "GLAccountCode": "1520",
                         "GLAccountDescription": vat["Description"], "Description": entry["Description"],
                         "AmountDC": vat_amount, "AmountFC": vat_amount, "CostCenter": None, "CostUnit": None})
            rows.append({**common, "ID": _guid(rng), "LineNumber": 0, "GLAccount": creditors["ID"],
                         "GLAccountCode": creditors["Code"], "GLAccountDescription": creditors["Description"],
                         "Description": entry["Description"], "AmountDC": -entry["AmountDC"],
                         "AmountFC": -entry["AmountFC"], "CostCenter": None, "CostUnit": None})
            t["transactions"].extend(self._stamp(row, entry["Modified"]) for row in rows)
        items = [("ART-100", "Verpakkingsfolie", "ROL", 12.5), ("ART-200", "Kartonnen dozen", "DOOS", 0.85),
                 ("ART-300", "Palletwikkel", "ST", 4.2), ("ART-400", "Etiketten", "PAK", 9.95)]
        for i in range(1, max(4, spec.invoices // 4) + 1):
            supplier, when = suppliers[rng.randrange(len(suppliers))], moment(i / (spec.invoices // 4 + 2))
            order_id = _guid(rng)
            lines = []
            for n in range(1, rng.randint(1, 4) + 1):
                code, description, unit, price = items[rng.randrange(len(items))]
                quantity = float(rng.randint(1, 40))
                lines.append({"ID": _guid(rng), "PurchaseOrderID": order_id, "LineNumber": n, "ItemCode": code,
                              "ItemDescription": description, "Description": description, "Quantity": quantity,
                              "Unit": unit, "NetPrice": price, "AmountFC": round(quantity * price, 2),
                              "CostCenter": t["costcenters"][n % 3]["Code"], "CostUnit": t["costunits"][n % 2]["Code"],
                              "ReceiptDate": when.replace(hour=0, minute=0, second=0) + timedelta(days=7)})
            t["order_lines"].extend(lines)
            t["orders"].append(self._stamp({
                "PurchaseOrderID": order_id, "OrderNumber": 500 + i, "OrderDate": when.replace(hour=0, minute=0, second=0),
                "Supplier": supplier["ID"], "SupplierCode": supplier["Code"].strip(), "SupplierName": supplier["Name"],
                "Currency": "EUR", "AmountFC": round(sum(line["AmountFC"] for line in lines), 2),
                "Description": f"Bestelling {500 + i}", "YourRef": f"REF-{500 + i}", "Created": when}, when))
        # A supplier closed by mistake and removed; an open purchase entry removed (its GL lines go: Exact records
        # the deletion of an open entry as TransactionLines deletes).
        gone = self._stamp({"ID": _guid(rng), "Code": f"{29999:>18}", "Name": "Dubbel 29999 B.V.", "IsSupplier": True,
                            "IsSales": False, "Status": "C", "Blocked": False, "Country": "NL", "City": "Utrecht",
                            "PurchaseCurrency": "EUR"}, moment(0.5))
        t["accounts"].append(gone)
        self.delete("accounts", gone["ID"], moment(0.55))
        phantom = _guid(rng)
        t["transactions"].append(self._stamp({"ID": phantom, "EntryNumber": 26199999, "LineNumber": 1, "Type": 30,
                                              "YourRef": "SUP-DELETED"}, moment(0.6)))
        self.delete("transactions", phantom, moment(0.65))
