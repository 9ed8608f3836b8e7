"""The Exact Online sandbox's division: deterministic data of N purchase entries and what they refer
to (suppliers, GL accounts and their classification mappings, cost centres and units, payments).

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
}
#: CRUD and bulk endpoints with a sync sibling refuse a GET without one of these in $filter (§6)
MANDATORY_FILTER = {"accounts": ["Accountant", "ID", "Code", "IsSupplier", "IsSales", "Modified", "Name", "Status"],
                    "glaccounts": ["Code", "ID", "Modified", "Type"]}


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
                                              "Country": "NL", "City": "Amsterdam"}, moment(rng.random())))
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
