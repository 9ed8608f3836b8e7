"""Stampli rows → Intacct AP bills and AP payments (reference/stampli.md §4, intacct.md §6).

An invoice file holds one row per invoice line; rows are grouped into a bill by vendor and
normalised invoice number. A payment file holds one row per bill a payment settles; rows are
grouped into one payment by vendor and payment reference. Everything here is pure: the operator
supplies Intacct's reference data (vendors, accounts, dimensions) and posts what comes out.

A defect in one line rejects its whole bill (a bill posted without one of its lines would be
wrong); each row of that bill gets a reason, so the error report AP receives is complete.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from mlc.formats.feed import FeedConfig, FeedRow, RowError

DIMENSIONS = {"department_id": "DEPARTMENTID", "location_id": "LOCATIONID", "class_id": "CLASSID",
              "project_id": "PROJECTID", "customer_id": "CUSTOMERID", "item_id": "ITEMID"}
DIMENSION_OBJECTS = {"department_id": "DEPARTMENT", "location_id": "LOCATION", "class_id": "CLASS",
                     "project_id": "PROJECT", "customer_id": "CUSTOMER", "item_id": "ITEM"}
INTACCT_PAYMENT_METHODS = ("Printed Check", "Manual Check", "EFT", "Cash", "ACH", "Credit Card", "Charge Card", "Wire")
_LEGAL_SUFFIXES = {"inc", "incorporated", "llc", "ltd", "limited", "co", "corp", "corporation", "company", "lp", "llp",
                   "plc", "gmbh", "sa", "bv", "the"}


def normalise_name(name: str) -> str:
    """A vendor name as people mean it: accents, case, punctuation, '&' and legal suffixes do not count."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold().replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(w for w in words if w not in _LEGAL_SUFFIXES)


def normalise_invoice_number(number: str) -> str:
    """The bill number sent to Intacct (RECORDID): blanks trimmed and collapsed, otherwise as written."""
    return " ".join(number.split())


def intacct_date(day: date) -> str:
    return day.strftime("%m/%d/%Y")


@dataclass
class Line:
    row: int
    account: str
    amount: Decimal
    memo: str
    dimensions: dict[str, str]
    user_fields: dict[str, str]


@dataclass
class Invoice:
    """One bill to post: the rows it came from, its header fields and its lines."""

    vendor_id: str
    vendor_name: str
    number: str
    rows: list[int] = field(default_factory=list)
    invoice_date: date | None = None
    due_date: date | None = None
    posting_date: date | None = None
    currency: str = ""
    total: Decimal | None = None
    po_number: str = ""
    description: str = ""
    lines: list[Line] = field(default_factory=list)
    first: dict[str, str] = field(default_factory=dict)

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


@dataclass
class Application:
    row: int
    invoice_number: str
    amount: Decimal


@dataclass
class Payment:
    """One AP payment: the vendor, the reference that keys it, and the bills it settles."""

    vendor_id: str
    vendor_name: str
    reference: str
    rows: list[int] = field(default_factory=list)
    payment_date: date | None = None
    method: str = ""
    bank_account: str = ""
    currency: str = ""
    applications: list[Application] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return sum((a.amount for a in self.applications), Decimal("0.00"))


@dataclass
class Assembled:
    """What a file's rows became: the records to post, the rows refused (row → error), rows skipped."""

    records: list[Any]
    rejected: dict[int, RowError]
    skipped: dict[int, str]


def _status_skip(row: FeedRow, config: FeedConfig) -> str | None:
    status = row.values.get("approval_status", "").strip().lower()
    return f"status {status!r} in Stampli: not posted" if status and status in config.skip_statuses else None


def bill_key(values: Mapping[str, str]) -> str | None:
    """The bill a row belongs to (vendor, invoice number), as text; None when the row names no bill."""
    vendor = values.get("vendor_id", "") or normalise_name(values.get("vendor_name", ""))
    number = normalise_invoice_number(values.get("invoice_number", ""))
    return f"{vendor}\x1f{number.casefold()}" if vendor and number else None


def payment_key(values: Mapping[str, str]) -> str | None:
    """The payment a row belongs to (vendor, reference), as text; None when the row names no payment."""
    vendor = values.get("vendor_id", "") or normalise_name(values.get("vendor_name", ""))
    reference = " ".join((values.get("reference") or values.get("payment_id") or "").split())
    return f"{vendor}\x1f{reference}" if vendor and reference else None


def assemble_invoices(rows: Iterable[FeedRow], config: FeedConfig) -> Assembled:
    """Group invoice-line rows into bills, checking each row's cells and each bill's consistency."""
    bills: dict[str, Invoice] = {}
    rejected: dict[int, RowError] = {}
    skipped: dict[int, str] = {}
    for row in rows:
        if (reason := _status_skip(row, config)) is not None:
            skipped[row.number] = reason
            continue
        v, n = row.values, row.number
        vendor = v.get("vendor_id", "") or v.get("vendor_name", "")
        number = normalise_invoice_number(v.get("invoice_number", ""))
        key = bill_key(v)
        if key is None:
            rejected[n] = row.error or (RowError("no vendor id or vendor name", row=n, field="vendor_id") if not vendor
                                        else RowError("no invoice number", row=n, field="invoice_number"))
            continue
        bill = bills.get(key)
        if bill is None:
            bill = bills[key] = Invoice(v.get("vendor_id", ""), v.get("vendor_name", ""), number, first=dict(v))
        bill.rows.append(n)  # a bad row still belongs to its bill: the bill is then held back whole
        if row.error:
            rejected[n] = row.error
            continue
        try:
            _take_line(bill, row, config)
        except RowError as exc:
            rejected[n] = exc
    records = []
    for bill in bills.values():
        problem = _bill_problem(bill, rejected, config)
        if problem is None:
            records.append(bill)
            continue
        for n in bill.rows:
            rejected.setdefault(n, RowError(f"invoice {bill.number} not posted: {problem.reason}", row=n,
                                            field=problem.field))
    return Assembled(records, rejected, skipped)


def _take_line(bill: Invoice, row: FeedRow, config: FeedConfig) -> None:
    v, n = row.values, row.number
    header = {"invoice_date": None, "due_date": None, "gl_posting_date": None}
    for name in header:
        if v.get(name):
            header[name] = config.day(v[name], name, n)
    currency = config.currency(v["currency"], "currency", n) if v.get("currency") else ""
    total = config.amount(v["total_amount"], "total_amount", n) if v.get("total_amount") else None
    if not bill.lines and bill.invoice_date is None:
        bill.invoice_date, bill.due_date, bill.posting_date = (header["invoice_date"], header["due_date"],
                                                               header["gl_posting_date"])
        bill.currency, bill.total = currency, total
        bill.po_number, bill.description = v.get("po_number", ""), v.get("description", "")
    else:
        for name, mine, theirs in (("invoice_date", header["invoice_date"], bill.invoice_date),
                                   ("currency", currency, bill.currency), ("total_amount", total, bill.total)):
            if mine != theirs:
                raise RowError(f"{mine} differs from {theirs} on row {bill.rows[0]} of the same invoice", row=n,
                               field=name)
    if bill.invoice_date is None:
        raise RowError("no invoice date", row=n, field="invoice_date")
    account = v.get("gl_account_no", "")
    if not account:
        raise RowError("no GL account", row=n, field="gl_account_no")
    if not v.get("amount"):
        raise RowError("no line amount", row=n, field="amount")
    amount = config.amount(v["amount"], "amount", n)
    dims = {name: v[name] for name in DIMENSIONS if v.get(name)}
    user = {k: val for k, val in v.items() if k.startswith("udd_") and val}
    bill.lines.append(Line(n, account, amount, v.get("memo", ""), dims, user))


def _bill_problem(bill: Invoice, rejected: Mapping[int, RowError], config: FeedConfig) -> RowError | None:
    bad = [rejected[n] for n in bill.rows if n in rejected]
    if bad:
        return RowError(f"row {bad[0].row} has a problem ({bad[0].field or 'row'}: {bad[0].reason})",
                        row=None, field=bad[0].field)
    if bill.amount < 0 and not config.allow_credit_memos:
        return RowError(f"a credit memo (the lines add up to {bill.amount}): this feed does not take credit memos "
                        "(feed setting allow_credit_memos)", field="amount")
    if bill.amount == 0 and not config.allow_zero_amounts:
        return RowError("the lines add up to 0.00: a zero-amount bill (feed setting allow_zero_amounts)",
                        field="amount")
    if bill.total is not None and bill.total != bill.amount:
        return RowError(f"the lines add up to {bill.amount}, the invoice total is {bill.total}", row=None,
                        field="total_amount")
    if bill.due_date and bill.invoice_date and bill.due_date < bill.invoice_date:
        return RowError(f"due date {bill.due_date} is before the invoice date {bill.invoice_date}", field="due_date")
    return None


def bill_record(bill: Invoice, vendor_id: str, default_terms: str = "") -> dict[str, Any]:
    """The APBILL create payload (intacct.md §6.1); amounts at two places, dates mm/dd/yyyy."""
    assert bill.invoice_date is not None
    record: dict[str, Any] = {"VENDORID": vendor_id, "RECORDID": bill.number,
                              "WHENCREATED": intacct_date(bill.invoice_date)}
    if bill.posting_date:
        record["WHENPOSTED"] = intacct_date(bill.posting_date)
    if bill.due_date:
        record["WHENDUE"] = intacct_date(bill.due_date)
    elif default_terms:
        record["TERMNAME"] = default_terms
    else:
        record["WHENDUE"] = intacct_date(bill.invoice_date)
    if bill.po_number:
        record["DOCNUMBER"] = bill.po_number
    if bill.description:
        record["DESCRIPTION"] = bill.description
    if bill.currency:
        record["CURRENCY"] = bill.currency
    items = []
    for line in bill.lines:
        item: dict[str, Any] = {"ACCOUNTNO": line.account, "TRX_AMOUNT": f"{line.amount:.2f}"}
        if line.memo:
            item["ENTRYDESCRIPTION"] = line.memo
        item.update({DIMENSIONS[name]: value for name, value in line.dimensions.items()})
        item.update({name[4:].upper(): value for name, value in line.user_fields.items()})
        items.append(item)
    record["APBILLITEMS"] = {"APBILLITEM": items}
    return record


def assemble_payments(rows: Iterable[FeedRow], config: FeedConfig) -> Assembled:
    """Group payment rows by vendor and reference; each row applies an amount to one invoice.

    A payment with one bad row is held back whole: posting the rest under its reference would
    make the corrected row look "already posted" when AP drops it again.
    """
    payments: dict[str, Payment] = {}
    rejected: dict[int, RowError] = {}
    skipped: dict[int, str] = {}
    for row in rows:
        if (reason := _status_skip(row, config)) is not None:
            skipped[row.number] = reason
            continue
        v, n = row.values, row.number
        vendor = v.get("vendor_id", "") or normalise_name(v.get("vendor_name", ""))
        reference = " ".join((v.get("reference") or v.get("payment_id") or "").split())
        key = payment_key(v)
        if key is None:
            rejected[n] = row.error or (RowError("no vendor id or vendor name", row=n, field="vendor_id") if not vendor
                                        else RowError("no payment reference", row=n, field="reference"))
            continue
        payment = payments.get(key)
        if payment is None:
            payment = payments[key] = Payment(v.get("vendor_id", ""), v.get("vendor_name", ""), reference)
        payment.rows.append(n)
        try:
            if row.error:
                raise row.error
            _take_application(payment, row, config)
        except RowError as exc:
            rejected[n] = exc
    records = [p for p in payments.values() if not any(n in rejected for n in p.rows)]
    for payment in payments.values():
        if payment not in records:
            first = next(rejected[n] for n in payment.rows if n in rejected)
            for n in payment.rows:
                rejected.setdefault(n, RowError(f"payment {payment.reference} not posted: row {first.row} has a "
                                                f"problem ({first.field or 'row'}: {first.reason})", row=n,
                                                field=first.field))
    return Assembled(records, rejected, skipped)


def _take_application(payment: Payment, row: FeedRow, config: FeedConfig) -> None:
    v, n = row.values, row.number
    if not v.get("invoice_number"):
        raise RowError("no invoice number to apply the payment to", row=n, field="invoice_number")
    paid_on = config.day(v.get("payment_date", ""), "payment_date", n)
    amount = config.amount(v.get("amount", ""), "amount", n)
    if amount <= 0:
        raise RowError(f"a payment amount must be positive, not {amount}", row=n, field="amount")
    currency = config.currency(v["currency"], "currency", n) if v.get("currency") else ""
    method = payment_method(v.get("payment_method", ""), config, n)
    if payment.payment_date is None:
        payment.payment_date, payment.method, payment.currency = paid_on, method, currency
        payment.bank_account = v.get("bank_account_id", "")
    elif (paid_on, method, currency) != (payment.payment_date, payment.method, payment.currency):
        raise RowError(f"date, method or currency differ from row {payment.rows[0]} of payment {payment.reference}",
                       row=n, field="payment_date")
    payment.applications.append(Application(n, normalise_invoice_number(v["invoice_number"]), amount))


def payment_method(text: str, config: FeedConfig, row: int) -> str:
    """Stampli's method name → Intacct's PAYMENTMETHOD, through the feed's table, else by name."""
    wanted = text.strip()
    if not wanted:
        raise RowError("no payment method", row=row, field="payment_method")
    if wanted.lower() in config.payment_methods:
        return config.payment_methods[wanted.lower()]
    for method in INTACCT_PAYMENT_METHODS:
        if method.lower() == wanted.lower():
            return method
    raise RowError(f"payment method {wanted!r} is not one Intacct knows ({', '.join(INTACCT_PAYMENT_METHODS)}); map "
                   "it under payment_methods in the feed", row=row, field="payment_method")


def payment_record(payment: Payment, vendor_id: str, bills: Mapping[str, str], bank_account: str) -> dict[str, Any]:
    """The APPYMT create payload; ``bills`` maps each invoice number to its bill's RECORDNO."""
    assert payment.payment_date is not None
    record: dict[str, Any] = {
        "FINANCIALENTITY": payment.bank_account or bank_account, "PAYMENTMETHOD": payment.method,
        "VENDORID": vendor_id, "PAYMENTDATE": intacct_date(payment.payment_date), "DOCNUMBER": payment.reference,
        "DESCRIPTION": f"Stampli payment {payment.reference}"}
    if payment.currency:
        record["CURRENCY"] = payment.currency
    record["APPYMTDETAILS"] = {"APPYMTDETAIL": [
        {"RECORDKEY": bills[a.invoice_number], "TRX_PAYMENTAMOUNT": f"{a.amount:.2f}"} for a in payment.applications]}
    return record
