"""EDIFACT message builders: INVOIC (D96A, or D01B) from the canonical invoice record.

The record is the one the X12 810 uses (see :mod:`mlc.formats.x12_sets`), plus optional GS1
identifiers on parties (``id`` with ``id_agency`` 9) and ``vat_number``. Amounts are written with
two decimals and the interchange's decimal mark.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mlc.formats.edifact import EdifactSyntax
from mlc.formats.errors import RenderError
from mlc.formats.fields import RecordFields
from mlc.formats.values import as_decimal, cents, decimal_text

DIRECTORIES = {"D96A": ("INVOIC", "D", "96A", "UN", "EAN008"), "D01B": ("INVOIC", "D", "01B", "UN", "EAN010")}
DOCUMENT_CODES = {"DI": "380", "CR": "381", "DR": "383"}
Seg = tuple[str, list[Any]]


def invoic(record: Mapping[str, Any], index: int | None = None, *, syntax: EdifactSyntax | None = None,
           directory: str = "D96A", length: str = "cut", notes: list[dict[str, Any]] | None = None
           ) -> tuple[tuple[str, ...], list[Seg]]:
    """Return (message identifier, segments) of one INVOIC (``length``, ``notes``: see :mod:`mlc.formats.fields`)."""
    syntax = syntax or EdifactSyntax()
    ctx = RecordFields(record, index, "number", length=length, notes=notes)

    def amount(value: Decimal) -> str:
        return syntax.amount(decimal_text(cents(value), 2))

    def number(value: Decimal) -> str:
        return syntax.amount(decimal_text(value))

    if directory not in DIRECTORIES:
        raise RenderError(f"INVOIC directory must be one of {sorted(DIRECTORIES)}, not {directory!r}", field="directory")
    invoice_number = ctx.text(record, "number", 35, required=True)
    invoice_date = ctx.date(record, "date", required=True)
    segs: list[Seg] = [
        ("BGM", [DOCUMENT_CODES.get(str(record.get("type") or "DI"), "380"), invoice_number, "9"]),
        ("DTM", [["137", invoice_date.strftime("%Y%m%d"), "102"]]),  # type: ignore[union-attr]
    ]
    due = ctx.date(record.get("terms") or {}, "due_date", label="terms.due_date")
    if due:
        segs.append(("DTM", [["13", due.strftime("%Y%m%d"), "102"]]))
    if record.get("po_number"):
        segs.append(("RFF", [["ON", ctx.text(record, "po_number", 35)]]))
    for i, party in enumerate(record.get("parties") or [], 1):
        label = f"parties[{i}]"
        role = {"RE": "SU", "VN": "SU", "SE": "SU"}.get(str(party.get("role")), str(party.get("role") or ""))
        if not role:
            raise ctx.fail("is required", f"{label}.role")
        ident = ctx.text(party, "id", 35, at=label)
        agency = party.get("id_agency") or ("9" if ident and ident.isdigit() and len(ident) == 13 else "ZZZ")
        segs.append(("NAD", [role, [ident, None, agency] if ident else None, None,
                             ctx.text(party, "name", 35, cut=True, required=True, at=label),
                             ctx.text(party, "address1", 35, cut=True, at=label),
                             ctx.text(party, "city", 35, cut=True, at=label),
                             ctx.text(party, "state", 9, at=label),
                             ctx.text(party, "postal_code", 17, at=label),
                             ctx.text(party, "country", 3, at=label)]))
        if party.get("vat_number"):
            segs.append(("RFF", [["VA", ctx.text(party, "vat_number", 35, at=label)]]))
    if record.get("currency"):
        segs.append(("CUX", [["2", ctx.text(record, "currency", 3), "4"]]))
    terms = record.get("terms") or {}
    if terms.get("net_days"):
        segs.append(("PAT", ["1", None, ["5", "3", "D", str(terms["net_days"])]]))
    lines = record.get("lines") or []
    if not lines:
        raise ctx.fail("has no lines", "lines")
    total = Decimal(0)
    for i, line in enumerate(lines, 1):
        label = f"lines[{i}]"
        quantity = line.get("quantity")
        price = line.get("unit_price")
        if quantity in (None, "") and price in (None, ""):
            if line.get("amount") in (None, ""):
                raise ctx.fail("needs quantity and unit_price, or amount", label)
            qty, unit = Decimal(1), as_decimal(line["amount"], f"{label}.amount", index)
        else:
            qty = as_decimal(quantity, f"{label}.quantity", index)
            unit = as_decimal(price, f"{label}.unit_price", index)
        line_amount = cents(qty * unit)
        total += line_amount
        item = ctx.text(line, "item_id", 35, at=label)
        segs.append(("LIN", [str(i), None, [item, line.get("item_type") or "SA"] if item else None]))
        description = ctx.text(line, "description", 35, cut=True, at=label)
        if description:
            segs.append(("IMD", ["F", None, [None, None, None, description]]))
        segs += [("QTY", [["47", number(qty), line.get("uom") or "EA"]]),
                 ("MOA", [["203", amount(line_amount)]]),
                 ("PRI", [["AAA", number(unit)]])]
        # SG29 of the LIN group: the line's GL account (ADE, account number) and cost dimensions, each RFF with the
        # qualifier the mapping gives it and, for a mutually defined one (ZZZ), its name in C506's 4000.
        for j, ref in enumerate(line.get("references") or [], 1):
            if ref.get("id") in (None, ""):
                continue  # a dimension the line does not carry (the common case), before any other work
            where = f"{label}.references[{j}]"
            value = ctx.text(ref, "id", 70, at=where)
            if value:
                name = ctx.text(ref, "description", 35, cut=True, at=where)
                segs.append(("RFF", [[ctx.text(ref, "qualifier", 3, required=True, at=where), value,
                                      *((None, name) if name else ())]]))
    tax = record.get("tax")
    tax_amount = cents(as_decimal(tax, "tax", index)) if tax not in (None, "") else None
    invoice_total = total + tax_amount if tax_amount is not None else total
    stated = record.get("total")
    if stated not in (None, "") and cents(as_decimal(stated, "total", index)) != invoice_total:
        what = f"the sum of the lines {total}" + (f" plus tax {tax_amount}" if tax_amount is not None else "")
        raise ctx.fail(f"total {stated} does not equal {what}", "total")
    if invoice_total < 0 and record.get("type") in (None, ""):
        segs[0] = ("BGM", [DOCUMENT_CODES["CR"], *segs[0][1][1:]])  # a negative total: a credit note (381)
    segs += [("UNS", ["S"]), ("CNT", [["2", str(len(lines))]]),
             ("MOA", [["77", amount(invoice_total)]]), ("MOA", [["79", amount(total)]])]
    if tax_amount is not None:  # SG50: the tax total
        segs += [("TAX", ["7", ["VAT"]]), ("MOA", [["124", amount(tax_amount)]])]
    return DIRECTORIES[directory], segs
