"""Creates in the Intacct sandbox: APBILL with its lines, APPYMT applied to bills, master data.

Validation answers the way the gateway does: a specific error and the generic BL01001973
"Could not create ... record" wrapper, so a client sees two ``<error>`` elements. Bill numbers
are *not* unique here (nor by default in Intacct): stopping duplicates is the client's job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lxml import etree

from sandbox.intacct_data import NATURAL_ID, SCHEMAS, IntacctStore


class WriteError(Exception):
    def __init__(self, obj: str, errorno: str, description: str, correction: str = "") -> None:
        super().__init__(description)
        self.errors = ((errorno, description, "", correction),
                       ("BL01001973", f"Could not create {obj.title()} record!", "", ""))


def _date(text: str | None, obj: str, field: str, required: bool = True) -> str | None:
    if text is None or not text.strip():
        if required:
            raise WriteError(obj, "BL34000061", f"Required field {field} is missing.", f"Provide {field}.")
        return None
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    raise WriteError(obj, "BL34000062", f"Invalid date {text!r} for {field}; use mm/dd/yyyy.")


def _amount(text: str | None, obj: str, field: str) -> float:
    try:
        return round(float((text or "").strip()), 2)
    except ValueError:
        raise WriteError(obj, "BL34000063", f"Invalid amount {text!r} for {field}.") from None


def _exists(store: IntacctStore, obj: str, field: str, value: str) -> bool:
    return store.one(obj, field, value) is not None


def create_record(store: IntacctStore, obj: str, node: etree._Element, offset: timedelta) -> tuple[int, str | None]:
    """Insert one ``<create>`` child; return (RECORDNO, natural id or None)."""
    values = {child.tag.upper(): child for child in node if isinstance(child.tag, str)}
    text = {k: (v.text or "").strip() for k, v in values.items() if not len(v)}
    now = store.clock().isoformat(sep=" ")
    if obj == "APBILL":
        return _create_bill(store, values, text, now), None
    if obj == "APPYMT":
        return _create_payment(store, values, text, now), None
    if obj in NATURAL_ID:
        ident = NATURAL_ID[obj]
        if not text.get(ident):
            raise WriteError(obj, "BL34000061", f"Required field {ident} is missing.")
        if _exists(store, obj, ident, text[ident]):
            raise WriteError(obj, "BL01001972", f"Another {obj.lower()} with the given value(s) {text[ident]} "
                             "already exists")
        record = {k: v for k, v in text.items() if k in SCHEMAS[obj] and k not in ("RECORDNO", "WHENMODIFIED")}
        record.setdefault("STATUS", "active")
        record["WHENMODIFIED"] = now
        return store.insert(obj, record), text[ident]
    raise WriteError(obj, "XL03000003", f"create is not available for {obj} in this sandbox")


def _create_bill(store: IntacctStore, values: dict[str, etree._Element], text: dict[str, str], now: str) -> int:
    obj = "APBILL"
    vendor_id = text.get("VENDORID", "")
    if not vendor_id:
        raise WriteError(obj, "BL34000061", "Required field VENDORID is missing.")
    vendor = store.one("VENDOR", "VENDORID", vendor_id)
    if vendor is None:
        raise WriteError(obj, "BL03000017", f"Invalid Vendor '{vendor_id}' specified.", "Use an existing vendor ID.")
    draft = text.get("ACTION", "").lower() == "draft"
    created = _date(text.get("WHENCREATED"), obj, "WHENCREATED", required=not draft)
    due = _date(text.get("WHENDUE"), obj, "WHENDUE", required=False)
    if due is None and not text.get("TERMNAME") and not draft:
        raise WriteError(obj, "BL34000061", "Required field WHENDUE is missing (or give TERMNAME).")
    items = values.get("APBILLITEMS")
    lines = [] if items is None else [line for line in items if isinstance(line.tag, str)]
    if not lines:
        raise WriteError(obj, "BL34000061", "A bill needs at least one line (APBILLITEMS/APBILLITEM).")
    parsed = []
    for n, line in enumerate(lines, 1):
        fields = {c.tag.upper(): (c.text or "").strip() for c in line if isinstance(c.tag, str)}
        account = fields.get("ACCOUNTNO", "")
        if not account or not _exists(store, "GLACCOUNT", "ACCOUNTNO", account):
            raise WriteError(obj, "BL03000018", f"Invalid GL account '{account}' on line {n}.")
        for dim, ident in (("DEPARTMENT", "DEPARTMENTID"), ("LOCATION", "LOCATIONID"), ("CLASS", "CLASSID"),
                           ("PROJECT", "PROJECTID")):
            if fields.get(ident) and not _exists(store, dim, ident, fields[ident]):
                raise WriteError(obj, "BL03000018", f"Invalid {dim.title()} '{fields[ident]}' on line {n}.")
        amount = _amount(fields.get("TRX_AMOUNT") or fields.get("AMOUNT"), obj, f"line {n} TRX_AMOUNT")
        parsed.append((fields, account, amount))
    total = round(sum(a for _, _, a in parsed), 2)
    key = store.insert(obj, {
        "RECORDTYPE": "apbill", "RECORDID": text.get("RECORDID") or None, "DOCNUMBER": text.get("DOCNUMBER") or None,
        "STATE": "Draft" if draft else "Posted", "VENDORID": vendor_id, "VENDORNAME": vendor["NAME"],
        "TERMNAME": text.get("TERMNAME") or None, "WHENCREATED": created, "WHENPOSTED": created, "WHENDUE": due,
        "BASECURR": "USD", "CURRENCY": text.get("CURRENCY") or "USD", "TOTALENTERED": total, "TOTALPAID": 0.0,
        "TOTALDUE": total, "TRX_TOTALENTERED": total, "DESCRIPTION": text.get("DESCRIPTION") or None,
        "MODULEKEY": "3.AP", "AUWHENCREATED": now, "WHENMODIFIED": now})
    titles = dict(store.select('SELECT "ACCOUNTNO", "TITLE" FROM "GLACCOUNT"', []))
    for n, (fields, account, amount) in enumerate(parsed, 1):
        store.insert("APBILLITEM", {
            "RECORDKEY": key, "LINE_NO": n, "ACCOUNTNO": account, "ACCOUNTTITLE": titles.get(account),
            "AMOUNT": amount, "TRX_AMOUNT": amount, "ENTRYDESCRIPTION": fields.get("ENTRYDESCRIPTION") or None,
            "DEPARTMENTID": fields.get("DEPARTMENTID") or None, "LOCATIONID": fields.get("LOCATIONID") or None,
            "CLASSID": fields.get("CLASSID") or None, "PROJECTID": fields.get("PROJECTID") or None,
            "VENDORID": vendor_id, "CURRENCY": text.get("CURRENCY") or "USD", "WHENCREATED": created,
            "WHENMODIFIED": now}, audit=False)
    return key


def _create_payment(store: IntacctStore, values: dict[str, etree._Element], text: dict[str, str], now: str) -> int:
    obj = "APPYMT"
    for required in ("FINANCIALENTITY", "PAYMENTMETHOD", "VENDORID"):
        if not text.get(required):
            raise WriteError(obj, "BL34000061", f"Required field {required} is missing.")
    vendor = store.one("VENDOR", "VENDORID", text["VENDORID"])
    if vendor is None:
        raise WriteError(obj, "BL03000017", f"Invalid Vendor '{text['VENDORID']}' specified.")
    paid_on = _date(text.get("PAYMENTDATE") or text.get("WHENCREATED"), obj, "PAYMENTDATE")
    details = values.get("APPYMTDETAILS")
    rows = [] if details is None else [d for d in details if isinstance(d.tag, str)]
    if not rows:
        raise WriteError(obj, "BL34000061", "A payment needs at least one APPYMTDETAIL.")
    applied = []
    for n, detail in enumerate(rows, 1):
        fields = {c.tag.upper(): (c.text or "").strip() for c in detail if isinstance(c.tag, str)}
        bill_row = store.one("APBILL", "RECORDNO", fields.get("RECORDKEY") or -1)
        if bill_row is None:
            raise WriteError(obj, "BL03000019", f"Invalid bill RECORDKEY '{fields.get('RECORDKEY')}' on detail {n}.")
        if bill_row["VENDORID"] != text["VENDORID"]:
            raise WriteError(obj, "BL03000019", f"Bill {bill_row['RECORDNO']} belongs to vendor {bill_row['VENDORID']}.")
        amount = _amount(fields.get("TRX_PAYMENTAMOUNT"), obj, f"detail {n} TRX_PAYMENTAMOUNT")
        if amount <= 0 or amount > round(bill_row["TOTALDUE"] or 0, 2) + 0.001:
            raise WriteError(obj, "BL03000020", f"Payment amount {amount:.2f} exceeds the amount due "
                             f"{bill_row['TOTALDUE']:.2f} of bill {bill_row['RECORDNO']}.")
        applied.append((bill_row, amount, fields.get("ENTRYKEY") or None))
    total = round(sum(a for _, a, _ in applied), 2)
    key = store.insert(obj, {
        "FINANCIALENTITY": text["FINANCIALENTITY"], "PAYMENTMETHOD": text["PAYMENTMETHOD"],
        "VENDORID": text["VENDORID"], "VENDORNAME": vendor["NAME"],
        "DOCNUMBER": text.get("DOCNUMBER") or None, "DESCRIPTION": text.get("DESCRIPTION") or None,
        "WHENCREATED": paid_on, "STATE": "Complete", "CURRENCY": text.get("CURRENCY") or "USD", "BASECURR": "USD",
        "TOTALENTERED": total, "WHENMODIFIED": now})
    for bill_row, amount, entry in applied:
        store.insert("APPYMTDETAIL", {"PAYMENTKEY": key, "RECORDKEY": bill_row["RECORDNO"], "ENTRYKEY": entry,
                                      "TRX_PAYMENTAMOUNT": amount, "PAYMENTAMOUNT": amount, "WHENMODIFIED": now},
                     audit=False)
        paid = round((bill_row["TOTALPAID"] or 0) + amount, 2)
        due = round(bill_row["TOTALENTERED"] - paid, 2)
        store.update("APBILL", bill_row["RECORDNO"], {
            "TOTALPAID": paid, "TOTALDUE": due, "STATE": "Paid" if due <= 0 else "Partially Paid",
            "WHENPAID": paid_on if due <= 0 else None, "WHENMODIFIED": now})
    return key

