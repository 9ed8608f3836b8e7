"""The Intacct sandbox's company: objects, their fields and types, kept in SQLite, seeded
deterministically.

Values are stored in sortable internal forms (ISO dates, UTC timestamps, numbers) and rendered
the way the gateway renders them (``mm/dd/yyyy``, ``mm/dd/yyyy HH:MM:SS`` in the Web Services
user's offset, labels for enumerations). A seed of N bills (10 to 1,000,000) with 1..5 lines
each, their vendors, GL accounts, dimensions and payments is the same for the same
(N, seed, anchor), so tests can assert exact records.

The company is as dirty as customers' companies are (reference/dirty-data.md): besides the plain
vendors there are :data:`DIRTY_VENDORS`, whose names hold XML and EDI separators, text longer than
X12's 60-character name element, CJK, emoji, right-to-left and zero-width marks, and control
characters (which the gateway sends as character references or raw bytes); every seventh bill is
theirs, so every window of a few dozen bills meets some of them. The bills of the first dirty vendor
are credit memos (every amount below zero), those of the second start with a zero-amount line. ``Seed(dirty=False)`` leaves them out.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# field -> type: text | int | decimal | date | timestamp | bool, plus the enumerations below.
SCHEMAS: dict[str, dict[str, str]] = {
    "VENDOR": {
        "RECORDNO": "int", "VENDORID": "text", "NAME": "text", "STATUS": "enum", "VENDTYPE": "text",
        "TERMNAME": "text", "TAXID": "text", "CURRENCY": "text", "ONHOLD": "bool", "CREDITLIMIT": "decimal",
        "TOTALDUE": "decimal", "DISPLAYCONTACT.PRINTAS": "text", "DISPLAYCONTACT.EMAIL1": "text",
        "DISPLAYCONTACT.PHONE1": "text", "DISPLAYCONTACT.MAILADDRESS.ADDRESS1": "text",
        "DISPLAYCONTACT.MAILADDRESS.ADDRESS2": "text", "DISPLAYCONTACT.MAILADDRESS.CITY": "text",
        "DISPLAYCONTACT.MAILADDRESS.STATE": "text", "DISPLAYCONTACT.MAILADDRESS.ZIP": "text",
        "DISPLAYCONTACT.MAILADDRESS.COUNTRY": "text", "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE": "text",
        "DISPLAYCONTACT.CONTACTNAME": "text", "DISPLAYCONTACT.FIRSTNAME": "text", "DISPLAYCONTACT.LASTNAME": "text",
        "WHENCREATED": "timestamp", "WHENMODIFIED": "timestamp",
    },
    "APBILL": {
        "RECORDNO": "int", "RECORDTYPE": "text", "RECORDID": "text", "DOCNUMBER": "text", "STATE": "enum",
        "VENDORID": "text", "VENDORNAME": "text", "TERMNAME": "text", "WHENCREATED": "date", "WHENPOSTED": "date",
        "WHENDUE": "date", "WHENPAID": "date", "BASECURR": "text", "CURRENCY": "text", "TOTALENTERED": "decimal",
        "TOTALPAID": "decimal", "TOTALDUE": "decimal", "TRX_TOTALENTERED": "decimal", "DESCRIPTION": "text",
        "MODULEKEY": "text", "AUWHENCREATED": "timestamp", "WHENMODIFIED": "timestamp",
    },
    "APBILLITEM": {
        "RECORDNO": "int", "RECORDKEY": "int", "LINE_NO": "int", "ACCOUNTNO": "text", "ACCOUNTTITLE": "text",
        "AMOUNT": "decimal", "TRX_AMOUNT": "decimal", "ENTRYDESCRIPTION": "text", "DEPARTMENTID": "text",
        "LOCATIONID": "text", "CLASSID": "text", "PROJECTID": "text", "VENDORID": "text", "CURRENCY": "text",
        "WHENCREATED": "date", "WHENMODIFIED": "timestamp",
    },
    "APPYMT": {
        "RECORDNO": "int", "FINANCIALENTITY": "text", "PAYMENTMETHOD": "text", "VENDORID": "text",
        "VENDORNAME": "text", "DOCNUMBER": "text", "DESCRIPTION": "text", "WHENCREATED": "date", "STATE": "enum",
        "CURRENCY": "text", "BASECURR": "text", "TOTALENTERED": "decimal", "WHENMODIFIED": "timestamp",
    },
    "APPYMTDETAIL": {
        "RECORDNO": "int", "PAYMENTKEY": "int", "RECORDKEY": "int", "ENTRYKEY": "int",
        "TRX_PAYMENTAMOUNT": "decimal", "PAYMENTAMOUNT": "decimal", "WHENMODIFIED": "timestamp",
    },
    "GLACCOUNT": {
        "RECORDNO": "int", "ACCOUNTNO": "text", "TITLE": "text", "ACCOUNTTYPE": "text", "NORMALBALANCE": "text",
        "CLOSINGTYPE": "text", "STATUS": "enum", "CATEGORY": "text", "WHENMODIFIED": "timestamp",
    },
    "DEPARTMENT": {"RECORDNO": "int", "DEPARTMENTID": "text", "TITLE": "text", "PARENTID": "text",
                   "STATUS": "enum", "WHENMODIFIED": "timestamp"},
    "LOCATION": {"RECORDNO": "int", "LOCATIONID": "text", "NAME": "text", "PARENTID": "text", "STATUS": "enum",
                 "CURRENCY": "text", "WHENMODIFIED": "timestamp"},
    "CLASS": {"RECORDNO": "int", "CLASSID": "text", "NAME": "text", "DESCRIPTION": "text", "PARENTID": "text",
              "STATUS": "enum", "WHENCREATED": "timestamp", "WHENMODIFIED": "timestamp"},
    "PROJECT": {"RECORDNO": "int", "PROJECTID": "text", "NAME": "text", "STATUS": "enum",
                "WHENMODIFIED": "timestamp"},
    "AUDITHISTORY": {"ID": "int", "OBJECTTYPE": "text", "OBJECTKEY": "text", "ACCESSMODE": "text",
                     "ACCESSTIME": "timestamp", "USERID": "text", "SOURCE": "text"},
}
KEY_FIELD = {name: ("ID" if name == "AUDITHISTORY" else "RECORDNO") for name in SCHEMAS}
NATURAL_ID = {"VENDOR": "VENDORID", "GLACCOUNT": "ACCOUNTNO", "DEPARTMENT": "DEPARTMENTID",
              "LOCATION": "LOCATIONID", "CLASS": "CLASSID", "PROJECT": "PROJECTID"}
# Stored code -> label (readByQuery filters on codes, query filters and all answers use labels).
ENUMS: dict[str, dict[str, str]] = {
    "STATUS": {"T": "active", "F": "inactive"},
    "STATE": {"D": "Draft", "PA": "Partially approved", "S": "Submitted", "U": "Declined", "A": "Posted",
              "P": "Paid", "PP": "Partially Paid", "C": "Complete", "V": "Voided"},
}
OWNED = {"APBILL": ("APBILLITEMS", "APBILLITEM", "RECORDKEY"), "APPYMT": ("APPYMTDETAILS", "APPYMTDETAIL", "PAYMENTKEY")}


def column(field: str) -> str:
    return '"' + field.replace('"', "") + '"'


def render_value(kind: str, value: Any, offset: timedelta) -> str:
    """A stored value as the gateway writes it."""
    if value is None:
        return ""
    if kind == "date":
        return f"{value[5:7]}/{value[8:10]}/{value[0:4]}"
    if kind == "timestamp":
        stamp = datetime.fromisoformat(value) + offset
        return stamp.strftime("%m/%d/%Y %H:%M:%S")
    if kind == "decimal":
        return f"{float(value):.2f}"
    if kind == "bool":
        return "true" if str(value).lower() in ("1", "true", "t") else "false"
    return str(value)


#: Vendor names as real companies hold them: every one must reach every format, cleaned or cut as its rules say.
CONTACT_FIRST = ("Maria", "James", "Aiko", "Olu", "Chen", "Priya", "Lars")
CONTACT_LAST = ("Garcia", "O'Brien", "Tanaka", "Adeyemi", "Wei", "Raman", "Nilsson")
DIRTY_VENDORS = (
    "Smith & Sons <Wholesale> \"Quoted\" Ltd",
    "Star*Power~Supply^Co:Ltd+Plus?Mark'Apos|Pipe",
    "The Extraordinarily Long Named International Office Supplies and Logistics Corporation of North America",
    "\u6771\u4eac\u5546\u4e8b\u682a\u5f0f\u4f1a\u793e Trading",  # 東京商事株式会社
    "Caf\u00e9 Ol\u00e9 \U0001f369 Donuts",
    "\u200f\u0634\u0631\u0643\u0629 \u0627\u0644\u0631\u064a\u0627\u0636\u200f Riyadh Supply",
    "Esc\x1bape Terminal Imports",  # ESC: the gateway sends &#27;
    "Unit\x1fSeparator Foods",  # US: sent as &#x1F;
    "Bell\x07Raw Byte Supply",  # BEL: sent as the raw byte
    "Zero\u200bWidth Paper\ufffe Mills",  # a zero-width space, and U+FFFE (sent raw, refused by XML)
)


@dataclass
class Seed:
    bills: int = 100
    seed: int = 7
    anchor: datetime = datetime(2026, 11, 16)  # naive UTC; records are spread over the 30 days before it
    dirty: bool = True  # the DIRTY_VENDORS and their bills (every seventh)


class IntacctStore:
    """One company's data in SQLite; every access under one lock (the gateway serialises anyway)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL" if path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA case_sensitive_like=ON")
        self.lock = threading.RLock()
        self.clock = lambda: datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - internal naive UTC
        for name, fields in SCHEMAS.items():
            cols = ", ".join(f"{column(f)} {'INTEGER' if t == 'int' else 'REAL' if t == 'decimal' else 'TEXT'}"
                             + (" PRIMARY KEY" if f == KEY_FIELD[name] else "") for f, t in fields.items())
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {column(name)} ({cols})")
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({column(name)})")}
            for f, t in fields.items():  # a company kept from an older sandbox gets the fields added since
                if f not in have:
                    self.db.execute(f"ALTER TABLE {column(name)} ADD COLUMN {column(f)} "
                                    f"{'INTEGER' if t == 'int' else 'REAL' if t == 'decimal' else 'TEXT'}")
        self.db.execute('CREATE INDEX IF NOT EXISTS apbill_wm ON "APBILL" ("WHENMODIFIED", "RECORDNO")')
        self.db.execute('CREATE INDEX IF NOT EXISTS apbill_key ON "APBILL" ("VENDORID", "RECORDID")')
        self.db.execute('CREATE INDEX IF NOT EXISTS apbillitem_parent ON "APBILLITEM" ("RECORDKEY", "LINE_NO")')
        self.db.execute('CREATE INDEX IF NOT EXISTS appymtdetail_parent ON "APPYMTDETAIL" ("PAYMENTKEY")')
        self.db.execute('CREATE INDEX IF NOT EXISTS vendor_wm ON "VENDOR" ("WHENMODIFIED", "RECORDNO")')

    # -- writes ------------------------------------------------------------------------------------
    def next_key(self, obj: str) -> int:
        key = KEY_FIELD[obj]
        row = self.db.execute(f"SELECT COALESCE(MAX({column(key)}), 0) + 1 FROM {column(obj)}").fetchone()
        return int(row[0])

    def insert(self, obj: str, record: dict[str, Any], *, audit: bool = True) -> int:
        fields = SCHEMAS[obj]
        record = {k: v for k, v in record.items() if k in fields}
        key = KEY_FIELD[obj]
        if record.get(key) is None:
            record[key] = self.next_key(obj)
        names = list(record)
        self.db.execute(f"INSERT INTO {column(obj)} ({', '.join(map(column, names))}) "
                        f"VALUES ({', '.join('?' * len(names))})", [record[n] for n in names])
        if audit and obj != "AUDITHISTORY":
            self.audit(obj, record[key], "Create")
        return int(record[key])

    def update(self, obj: str, key: int, changes: dict[str, Any], *, audit: bool = True) -> None:
        changes = dict(changes)
        if "WHENMODIFIED" in SCHEMAS[obj]:
            changes.setdefault("WHENMODIFIED", self.clock().isoformat(sep=" "))
        sets = ", ".join(f"{column(k)} = ?" for k in changes)
        self.db.execute(f"UPDATE {column(obj)} SET {sets} WHERE {column(KEY_FIELD[obj])} = ?", [*changes.values(), key])
        if audit:
            self.audit(obj, key, "Modify")

    def delete(self, obj: str, key: int) -> bool:
        gone = self.db.execute(f"DELETE FROM {column(obj)} WHERE {column(KEY_FIELD[obj])} = ?", [key]).rowcount
        if gone and obj in OWNED:
            _, child, parent = OWNED[obj]
            self.db.execute(f"DELETE FROM {column(child)} WHERE {column(parent)} = ?", [key])
        if gone:
            self.audit(obj, key, "Delete")
        return bool(gone)

    def audit(self, obj: str, key: Any, mode: str) -> None:
        self.insert("AUDITHISTORY", {"OBJECTTYPE": obj.lower(), "OBJECTKEY": str(key), "ACCESSMODE": mode,
                                     "ACCESSTIME": self.clock().isoformat(sep=" "), "USERID": "mlc_api",
                                     "SOURCE": "api"}, audit=False)

    def touch(self, obj: str, keys: Iterable[int]) -> None:
        """Modify records now (WHENMODIFIED bumps): what another user does while we page."""
        for key in keys:
            self.update(obj, key, {})

    # -- reads -------------------------------------------------------------------------------------
    def select(self, sql: str, params: list[Any]) -> list[sqlite3.Row]:
        return self.db.execute(sql, params).fetchall()

    def one(self, obj: str, field: str, value: Any) -> dict[str, Any] | None:
        """The first record whose ``field`` equals ``value``, by field name."""
        names = list(SCHEMAS[obj])
        row = self.db.execute(f"SELECT {', '.join(map(column, names))} FROM {column(obj)} WHERE {column(field)} = ?",
                              [value]).fetchone()
        return dict(zip(names, row)) if row else None

    def count(self, obj: str) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM {column(obj)}").fetchone()[0])

    # -- seed --------------------------------------------------------------------------------------
    def seed(self, spec: Seed) -> None:
        """Fill the company with ``spec.bills`` bills and everything they refer to, deterministically."""
        rng = random.Random(spec.seed)
        start = spec.anchor - timedelta(days=30)
        span = 30 * 86400

        def stamp(fraction: float) -> str:
            return (start + timedelta(seconds=int(fraction * span))).isoformat(sep=" ")

        with self.lock:
            self.db.execute("BEGIN")
            accounts = [("6100", "Office Supplies"), ("6200", "Freight In"), ("6220", "Packaging"),
                        ("6300", "Utilities"), ("6400", "Rent"), ("6500", "Professional Fees"),
                        ("6600", "Travel"), ("6700", "Software"), ("2000", "Accounts Payable"), ("1000", "Cash")]
            for i, (number, title) in enumerate(accounts, 1):
                self.insert("GLACCOUNT", {"RECORDNO": i, "ACCOUNTNO": number, "TITLE": title,
                                          "ACCOUNTTYPE": "balancesheet" if number < "3000" else "incomestatement",
                                          "NORMALBALANCE": "credit" if number == "2000" else "debit",
                                          "CLOSINGTYPE": "non-closing account", "STATUS": "active",
                                          "CATEGORY": "Expense", "WHENMODIFIED": stamp(i / 100)}, audit=False)
            dims = {"DEPARTMENT": [("ADM", "Administration"), ("OPS", "Operations"), ("SAL", "Sales"),
                                   ("WHS", "Warehouse"), ("FIN", "Finance")],
                    "LOCATION": [("HQ", "Headquarters"), ("EAST", "East Coast DC"), ("WEST", "West Coast DC")],
                    "CLASS": [("RETAIL", "Retail"), ("WHOLESALE", "Wholesale"), ("ONLINE", "Online"),
                              ("FOOD", "Food Service")],
                    "PROJECT": [("P100", "Warehouse expansion"), ("P200", "ERP rollout")]}
            for obj, rows in dims.items():
                ident = NATURAL_ID[obj]
                for i, (code, name) in enumerate(rows, 1):
                    record = {"RECORDNO": i, ident: code, "STATUS": "active", "WHENMODIFIED": stamp(i / 90)}
                    record["TITLE" if obj == "DEPARTMENT" else "NAME"] = name
                    if obj == "CLASS":
                        record["WHENCREATED"] = stamp(i / 100)
                    if obj == "LOCATION":
                        record["CURRENCY"] = "USD"
                    self.insert(obj, record, audit=False)
            vendor_count = max(10, min(spec.bills // 20, 50_000))
            cities = [("Chicago", "IL", "60601"), ("Dallas", "TX", "75201"), ("Newark", "NJ", "07102"),
                      ("Reno", "NV", "89501"), ("Tacoma", "WA", "98402")]
            names = ["Acme Supply", "Bayside Foods", "Crescent Packaging", "Delta Freight", "Evergreen Paper",
                     "Fulton Dairy", "Granite Logistics", "Harbor Produce", "Ironwood Tools", "Juniper Office"]
            vendors = []
            dirty = [(f"VD{n:03d}", name) for n, name in enumerate(DIRTY_VENDORS, 1)] if spec.dirty else []
            dirty_rng = random.Random(spec.seed + 1)
            for i in range(1, vendor_count + len(dirty) + 1):
                city, state, zipcode = cities[i % len(cities)]
                draw = rng.random
                if i > vendor_count:
                    ident, name = dirty[i - vendor_count - 1]
                    draw = dirty_rng.random  # the plain company stays what it was without them
                else:
                    ident, name = f"V{i:05d}", f"{names[i % len(names)]} {i:05d}"
                    vendors.append((ident, name))
                self.insert("VENDOR", {
                    "RECORDNO": i, "VENDORID": ident, "NAME": name, "STATUS": "active" if i % 17 else "inactive",
                    "VENDTYPE": "Supplier", "TERMNAME": ("Net 30", "Net 45", "Due on receipt")[i % 3],
                    "TAXID": f"{10 + i % 89:02d}-{1000000 + i:07d}", "CURRENCY": "USD", "ONHOLD": 0,
                    "CREDITLIMIT": 10000.0, "TOTALDUE": 0.0, "DISPLAYCONTACT.PRINTAS": name,
                    "DISPLAYCONTACT.EMAIL1": f"ap{i}@vendor{i}.example", "DISPLAYCONTACT.PHONE1": f"555-{i % 10000:04d}",
                    "DISPLAYCONTACT.MAILADDRESS.ADDRESS1": f"{100 + i} Commerce Way",
                    "DISPLAYCONTACT.MAILADDRESS.ADDRESS2": "", "DISPLAYCONTACT.MAILADDRESS.CITY": city,
                    "DISPLAYCONTACT.MAILADDRESS.STATE": state, "DISPLAYCONTACT.MAILADDRESS.ZIP": zipcode,
                    "DISPLAYCONTACT.MAILADDRESS.COUNTRY": "United States",
                    "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE": "US",
                    "DISPLAYCONTACT.FIRSTNAME": CONTACT_FIRST[i % len(CONTACT_FIRST)],
                    "DISPLAYCONTACT.LASTNAME": CONTACT_LAST[i % len(CONTACT_LAST)],
                    "DISPLAYCONTACT.CONTACTNAME": f"{CONTACT_FIRST[i % len(CONTACT_FIRST)]} "
                                                  f"{CONTACT_LAST[i % len(CONTACT_LAST)]}",
                    "WHENCREATED": stamp(draw() * 0.1), "WHENMODIFIED": stamp(0.1 + draw() * 0.9)}, audit=False)
            expense = [a for a in accounts if a[0] >= "6000"]
            bill_rows, line_rows, pay_rows, detail_rows = [], [], [], []
            line_no = payments = 0
            for i in range(1, spec.bills + 1):
                vendor_id, vendor_name = vendors[rng.randrange(len(vendors))]
                if dirty and i % 7 == 3:
                    vendor_id, vendor_name = dirty[(i // 7) % len(dirty)]
                when = spec.anchor - timedelta(days=30) + timedelta(seconds=int(i / (spec.bills + 1) * span))
                bill_date = when.date()
                lines = []
                # Dirty bills hold what AP really holds: a credit memo (every amount below zero), a zero line.
                kind = (i // 7) % 10 if dirty and i % 7 == 3 else None
                for n in range(1, rng.randint(1, 5) + 1):
                    account, title = expense[rng.randrange(len(expense))]
                    amount = round(rng.randint(500, 250000) / 100, 2)
                    amount = -amount if kind == 0 else (0.0 if kind == 1 and n == 1 else amount)
                    line_no += 1
                    lines.append(amount)
                    line_rows.append((line_no, i, n, account, title, amount, amount, f"{title} line {n}",
                                      dims["DEPARTMENT"][rng.randrange(5)][0], dims["LOCATION"][rng.randrange(3)][0],
                                      dims["CLASS"][rng.randrange(4)][0], None, vendor_id, "USD",
                                      bill_date.isoformat(), when.isoformat(sep=" ")))
                total = round(sum(lines), 2)
                paid = i % 4 == 0 and total > 0  # a credit memo is not paid out
                bill_rows.append((i, "apbill", f"INV-{i:07d}", f"PO-{rng.randint(1000, 9999)}",
                                  "Paid" if paid else "Posted", vendor_id, vendor_name, "Net 30",
                                  bill_date.isoformat(), bill_date.isoformat(),
                                  (bill_date + timedelta(days=30)).isoformat(),
                                  bill_date.isoformat() if paid else None, "USD", "USD", total,
                                  total if paid else 0.0, 0.0 if paid else total, total,
                                  f"Bill {i} from {vendor_name}", "3.AP", when.isoformat(sep=" "), when.isoformat(sep=" ")))
                if paid:
                    payments += 1
                    pay_rows.append((payments, "BOA-CHECKING", "ACH", vendor_id, vendor_name,
                                     f"PAY-{i:07d}", f"Payment of INV-{i:07d}", bill_date.isoformat(), "Complete",
                                     "USD", "USD", total, when.isoformat(sep=" ")))
                    detail_rows.append((payments, payments, i, None, total, total, when.isoformat(sep=" ")))
                if len(bill_rows) >= 20000:
                    self._flush(bill_rows, line_rows, pay_rows, detail_rows)
            self._flush(bill_rows, line_rows, pay_rows, detail_rows)
            self.db.execute("COMMIT")

    def _flush(self, bills: list, lines: list, payments: list, details: list) -> None:
        for obj, rows in (("APBILL", bills), ("APBILLITEM", lines), ("APPYMT", payments), ("APPYMTDETAIL", details)):
            if rows:
                names = list(SCHEMAS[obj])
                self.db.executemany(f"INSERT INTO {column(obj)} ({', '.join(map(column, names))}) "
                                    f"VALUES ({', '.join('?' * len(names))})", rows)
                rows.clear()

