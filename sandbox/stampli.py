"""A Stampli-like export folder: CSV files of approved invoices (one row per line) and of payments,
generated from the sandbox Intacct company so the good rows post, plus rows with each defect AP
meets (unknown vendor, unknown GL account, bad amount, bad date, missing value, unknown currency,
lines that do not add up), for the demo and the tests.

Headers follow ``include/mappings/stampli_to_intacct/*_feed.yaml``. Stampli's real layout is not
public (reference/stampli.md); this is the contract the feed files describe.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sandbox.intacct_data import IntacctStore

INVOICE_HEADER = ["Stampli Invoice ID", "Invoice Number", "Vendor ID", "Vendor Name", "Invoice Date", "Due Date",
                  "GL Posting Date", "Currency", "Invoice Total", "PO Number", "Description", "Approval Status",
                  "Line", "GL Account", "Line Amount", "Line Memo", "Department", "Location", "Class", "Project"]
PAYMENT_HEADER = ["Payment ID", "Invoice Number", "Vendor ID", "Vendor Name", "Payment Date", "Payment Method",
                  "Amount Paid", "Currency", "Payment Reference", "Bank Account"]
DEFECTS = ("unknown_vendor", "unknown_account", "bad_amount", "bad_date", "missing_value", "bad_currency",
           "total_mismatch", "european_amount", "zero_bill", "year_9999")


@dataclass
class Export:
    """What was generated: the file's bytes and what a correct import makes of it."""

    name: str
    data: bytes
    invoices: list[dict]  # the good invoices: number, vendor_id, total, lines [(account, amount)]
    defects: dict[str, str]  # invoice number -> defect


def _csv(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # Stampli-like: UTF-8 with a BOM


def invoice_export(store: IntacctStore, count: int, *, day: date, seed: int = 7, prefix: str = "STP",
                   lines: tuple[int, int] = (1, 4), defects: tuple[str, ...] = ()) -> Export:
    """``count`` good invoices, then one invoice per defect named in ``defects``."""
    rng = random.Random(seed)
    vendors = [(v, n) for v, n, s in store.select('SELECT "VENDORID", "NAME", "STATUS" FROM "VENDOR" ORDER BY '
                                                  '"RECORDNO"', []) if s == "active"]
    accounts = [a for (a,) in store.select('SELECT "ACCOUNTNO" FROM "GLACCOUNT" WHERE "ACCOUNTNO" >= ?', ["6000"])]
    depts = [d for (d,) in store.select('SELECT "DEPARTMENTID" FROM "DEPARTMENT"', [])]
    locs = [d for (d,) in store.select('SELECT "LOCATIONID" FROM "LOCATION"', [])]
    rows, good, marked = [], [], {}
    plan = [None] * count + list(defects)
    for i, defect in enumerate(plan, 1):
        vendor_id, vendor_name = vendors[rng.randrange(len(vendors))]
        number = f"{prefix}-{day:%y%m%d}-{i:05d}"
        amounts = [round(rng.randint(1000, 500000) / 100, 2) for _ in range(rng.randint(*lines))]
        total = round(sum(amounts), 2)
        po_number = f"PO-{rng.randint(1000, 9999)}"
        invoice_rows = []
        for n, amount in enumerate(amounts, 1):
            invoice_rows.append({
                "Stampli Invoice ID": f"S{seed}{i:06d}", "Invoice Number": number, "Vendor ID": vendor_id,
                "Vendor Name": vendor_name, "Invoice Date": f"{day - timedelta(days=3):%m/%d/%Y}",
                "Due Date": f"{day + timedelta(days=27):%m/%d/%Y}", "GL Posting Date": "", "Currency": "USD",
                "Invoice Total": f"{total:,.2f}", "PO Number": po_number,
                "Description": f"Stampli invoice {number}", "Approval Status": "Approved", "Line": str(n),
                "GL Account": accounts[rng.randrange(len(accounts))], "Line Amount": f"{amount:,.2f}",
                "Line Memo": f"line {n}", "Department": depts[rng.randrange(len(depts))],
                "Location": locs[rng.randrange(len(locs))], "Class": "", "Project": ""})
        if defect:
            marked[number] = defect
            first = invoice_rows[0]
            if defect == "unknown_vendor":
                for row in invoice_rows:
                    row.update({"Vendor ID": "V99999", "Vendor Name": "Nobody Such Supplies"})
            elif defect == "unknown_account":
                first["GL Account"] = "9999"
            elif defect == "bad_amount":
                first["Line Amount"] = "12.3O"
            elif defect == "bad_date":
                for row in invoice_rows:
                    row["Invoice Date"] = "31/02/2026"
            elif defect == "missing_value":
                first["GL Account"] = ""
            elif defect == "bad_currency":
                for row in invoice_rows:
                    row["Currency"] = "XYZ"
            elif defect == "total_mismatch":
                for row in invoice_rows:
                    row["Invoice Total"] = f"{total + 1:,.2f}"
            elif defect == "european_amount":  # 1.234,56 in a feed that declares 1,234.56: never read as 1.23
                first["Line Amount"] = f"{first['Line Amount'].replace(',', ' ').replace('.', ',').replace(' ', '.')}"
            elif defect == "zero_bill":
                for row in invoice_rows:
                    row.update({"Line Amount": "0.00", "Invoice Total": "0.00"})
            elif defect == "year_9999":
                for row in invoice_rows:
                    row["Invoice Date"] = "12/31/9999"
        else:
            good.append({"number": number, "vendor_id": vendor_id, "total": total,
                         "lines": [(r["GL Account"], float(r["Line Amount"].replace(",", ""))) for r in invoice_rows]})
        rows.extend(invoice_rows)
    return Export(f"stampli_invoices_{day:%Y%m%d}_{seed}.csv", _csv(INVOICE_HEADER, rows), good, marked)


def payment_export(invoices: list[dict], *, day: date, seed: int = 7, every: int = 2) -> Export:
    """One payment for every ``every``-th good invoice, paying it in full by ACH."""
    rows = []
    paid = []
    for i, invoice in enumerate(invoices[::every], 1):
        reference = f"ACH-{day:%y%m%d}-{seed}-{i:05d}"
        rows.append({"Payment ID": f"P{seed}{i:06d}", "Invoice Number": invoice["number"],
                     "Vendor ID": invoice["vendor_id"], "Vendor Name": "", "Payment Date": f"{day:%m/%d/%Y}",
                     "Payment Method": "ACH", "Amount Paid": f"{invoice['total']:,.2f}", "Currency": "USD",
                     "Payment Reference": reference, "Bank Account": "BOA-CHECKING"})
        paid.append({**invoice, "reference": reference})
    return Export(f"stampli_payments_{day:%Y%m%d}_{seed}.csv", _csv(PAYMENT_HEADER, rows), paid, {})


# Invoice-level header -> element of <Invoice>; line-level header -> element of <Line> (Line is its attribute).
XML_INVOICE = {"Stampli Invoice ID": "StampliInvoiceId", "Invoice Number": "InvoiceNumber", "Vendor ID": "Vendor/Id",
               "Vendor Name": "Vendor/Name", "Invoice Date": "InvoiceDate", "Due Date": "DueDate",
               "GL Posting Date": "GLPostingDate", "Currency": "Currency", "Invoice Total": "Total",
               "PO Number": "PONumber", "Description": "Description", "Approval Status": "ApprovalStatus"}
XML_LINE = {"GL Account": "GLAccount", "Line Amount": "Amount", "Line Memo": "Memo", "Department": "Department",
            "Location": "Location", "Class": "Class", "Project": "Project"}


def as_xml(export: Export) -> Export:
    """The same invoices as a Stampli XML template export (``invoices_xml_feed.yaml``): one <Invoice> with its
    fields and its <Lines>, each <Line number="n"> with the line's fields. The defects stay where they were."""
    import re
    from xml.sax.saxutils import escape as xml_escape
    from xml.sax.saxutils import quoteattr

    def escape(text: str) -> str:  # an XML writer leaves out what XML 1.0 cannot hold (control characters)
        return xml_escape(re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", text))

    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<StampliExport>"]
    for key in dict.fromkeys(r["Stampli Invoice ID"] for r in rows):
        lines = [r for r in rows if r["Stampli Invoice ID"] == key]
        out.append("  <Invoice>")
        vendor = []
        for header, path in XML_INVOICE.items():
            if path.startswith("Vendor/"):
                vendor.append(f"<{path[7:]}>{escape(lines[0][header])}</{path[7:]}>")
                if len(vendor) == 2:
                    out.append(f"    <Vendor>{''.join(vendor)}</Vendor>")
            else:
                out.append(f"    <{path}>{escape(lines[0][header])}</{path}>")
        out.append("    <Lines>")
        for line in lines:
            fields = "".join(f"<{path}>{escape(line[header])}</{path}>" for header, path in XML_LINE.items())
            out.append(f"      <Line number={quoteattr(line['Line'])}>{fields}</Line>")
        out += ["    </Lines>", "  </Invoice>"]
    out.append("</StampliExport>\n")
    return Export(export.name.rsplit(".", 1)[0] + ".xml", "\n".join(out).encode("utf-8"), export.invoices,
                  export.defects)


def unparsable(export: Export, row: int) -> Export:
    """``export`` with an unterminated quote opening data row ``row``: the CSV reader cannot find the next row
    again, so a careful client refuses the whole file (a careless one reads the rest as one cell)."""
    lines = export.data.split(b"\r\n")
    lines[row] = lines[row].replace(b",", b',"', 1)  # the second cell now opens a quote that never closes
    return Export(export.name, b"\r\n".join(lines), [], {})


def drop(home: Path, export: Export, feed: str) -> Path:
    """Put a generated file into the stampli user's export folder (as Stampli's upload would)."""
    folder = home / "outbound" / feed
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / export.name
    path.write_bytes(export.data)
    return path
