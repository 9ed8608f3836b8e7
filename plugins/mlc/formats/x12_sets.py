"""X12 transaction-set builders: one canonical record in, the segments of one set out.

Canonical records (produced by a partner mapping from a source system's fields):

* invoice (810): ``number``, ``date``, ``po_number``, ``po_date``, ``type`` (``DI``/``CR``; without it, a
  negative total is a credit memo, ``CR``),
  ``currency``, ``parties`` [{``role``, ``name``, ``id``, ``id_qualifier``, ``address1``,
  ``address2``, ``city``, ``state``, ``postal_code``, ``country``}], ``terms`` {``net_days``,
  ``discount_percent``, ``discount_days``, ``due_date``, ``description``}, ``lines`` [{``number``,
  ``quantity``, ``uom``, ``unit_price`` | ``amount``, ``item_id``, ``item_qualifier``,
  ``description``, ``references`` [{``qualifier``, ``id``, ``description``}] (REF in the line's loop: its GL
  account and cost dimensions)}], optional ``total`` (checked against the lines);
* payment (820): ``reference``, ``date``, ``amount``, ``method`` (``ACH``/``CHK``/``FWT``/...),
  ``handling`` (``C``/``I``), ``currency``, ``parties`` (``PR`` payer, ``PE`` payee),
  ``remittances`` [{``invoice_number``, ``amount_paid``, ``invoice_total``, ``discount``}];
* purchase order (850): ``number``, ``date``, ``type`` (``SA``), ``currency``, ``parties``,
  ``lines`` as for invoices;
* ship notice (856): ``shipment_id``, ``date``, ``ship_date``, ``po_number``, ``parties``,
  ``lines`` [{``item_id``, ``quantity``, ``uom``}];
* vendor (838): ``id``, ``name``, ``address1`` ..., ``contact``, ``email``, ``phone``,
  ``currency``, ``terms`` {``description``, ``net_days``}, ``modified`` (date).

Builders check what partners reject (totals that do not add up, values too long for their
element) and raise :class:`RenderError` naming the record and field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from mlc.formats.fields import RecordFields
from mlc.formats.values import cents, decimal_text, implied

Seg = tuple[str, list[Any]]


def _d8(value: date | None) -> str | None:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}" if value else None


def _parties(ctx: RecordFields, roles: tuple[str, ...] | None = None) -> Iterator[Seg]:
    for i, party in enumerate(ctx.record.get("parties") or [], 1):
        label = f"parties[{i}]"
        role = ctx.text(party, "role", 3, required=True, at=label)
        if roles and role not in roles:
            continue
        ident = ctx.text(party, "id", 80, at=label)
        yield "N1", [role, ctx.text(party, "name", 60, cut=True, required=True, at=label),
                     (party.get("id_qualifier") or "92") if ident else None, ident]
        if party.get("address1") or party.get("address2"):
            yield "N3", [ctx.text(party, "address1", 55, cut=True, at=label),
                         ctx.text(party, "address2", 55, cut=True, at=label)]
        if party.get("city"):
            yield "N4", [ctx.text(party, "city", 30, cut=True, at=label),
                         ctx.text(party, "state", 2, at=label),
                         ctx.text(party, "postal_code", 15, at=label),
                         ctx.text(party, "country", 3, at=label)]


def _lines(ctx: RecordFields, tag: str) -> tuple[list[Seg], Decimal, int]:
    """IT1/PO1 loops; return segments, the sum of quantity x price, and the line count."""
    segments: list[Seg] = []
    total = Decimal(0)
    lines = ctx.record.get("lines") or []
    if not lines:
        raise ctx.fail("has no lines", "lines")
    for i, line in enumerate(lines, 1):
        label = f"lines[{i}]"
        quantity = ctx.amount(line, "quantity", at=label)
        price = ctx.amount(line, "unit_price", at=label)
        amount = ctx.amount(line, "amount", at=label)
        if quantity is None and price is None:
            if amount is None:
                raise ctx.fail("needs quantity and unit_price, or amount", label)
            quantity, price = Decimal(1), amount  # AP bill lines carry an amount only
        elif quantity is None or price is None:
            raise ctx.fail("needs both quantity and unit_price", label)
        elif amount is not None and cents(quantity * price) != cents(amount):
            raise ctx.fail(f"amount {amount} is not quantity {quantity} x unit_price {price}", f"{label}.amount")
        total += quantity * price
        item = ctx.text(line, "item_id", 48, at=label)
        segments.append((tag, [
            ctx.text(line, "number", 20, at=label) or str(i), decimal_text(quantity),
            ctx.text(line, "uom", 2, at=label) or "EA", decimal_text(price), None,
            (line.get("item_qualifier") or "VP") if item else None, item]))
        description = ctx.text(line, "description", 80, cut=True, at=label)
        if description:
            segments.append(("PID", ["F", None, None, None, description]))
        segments += _references(ctx, line, label)
    return segments, cents(total), len(lines)


def _references(ctx: RecordFields, line: Mapping[str, Any], label: str) -> list[Seg]:
    """REF segments of an IT1 / PO1 loop (after PID, as the 4010 loop orders them): the line's GL account and
    cost dimensions, each with the qualifier the mapping (the partner's guide) gives it. A reference without a
    value is left out; one too long for REF02 (30) is refused, never cut: a cut account code is another account."""
    segments: list[Seg] = []
    for j, ref in enumerate(line.get("references") or [], 1):
        if ref.get("id") in (None, ""):
            continue  # a dimension the line does not carry (the common case), before any other work
        where = f"{label}.references[{j}]"
        value = ctx.text(ref, "id", 30, at=where)
        if value:
            segments.append(("REF", [ctx.text(ref, "qualifier", 3, required=True, at=where), value,
                                     ctx.text(ref, "description", 80, cut=True, at=where)]))
    return segments


def invoice_810(record: Mapping[str, Any], index: int | None = None, *, length: str = "cut",
                notes: list[dict[str, Any]] | None = None) -> list[Seg]:
    """810 Invoice: BIG, CUR, N1 loops, ITD, IT1/PID loops, TDS, CTT."""
    ctx = RecordFields(record, index, "number", length=length, notes=notes)
    big = [_d8(ctx.date(record, "date", required=True)), ctx.text(record, "number", 22, required=True),
           _d8(ctx.date(record, "po_date")), ctx.text(record, "po_number", 22), None, None,
           record.get("type") if record.get("type") not in (None, "", "DI") else None]
    segs: list[Seg] = [("BIG", big)]
    if record.get("currency"):
        segs.append(("CUR", ["SE", ctx.text(record, "currency", 3)]))
    segs += _parties(ctx)
    terms = record.get("terms") or {}
    if terms:
        percent = ctx.amount(terms, "discount_percent", label="terms.discount_percent")
        segs.append(("ITD", [
            "01" if not percent else "08", "3", decimal_text(percent) if percent else None, None,
            ctx.text(terms, "discount_days", 3, label="terms.discount_days") if percent else None,
            _d8(ctx.date(terms, "due_date", label="terms.due_date")),
            ctx.text(terms, "net_days", 3, label="terms.net_days"), None, None, None, None,
            ctx.text(terms, "description", 80, cut=True, label="terms.description")]))
    lines, total, count = _lines(ctx, "IT1")
    segs += lines
    tax = ctx.amount(record, "tax")  # VAT / sales tax on top of the lines (TDS carries the total with it)
    invoice_total = total + cents(tax) if tax is not None else total
    stated = ctx.amount(record, "total")
    if stated is not None and cents(stated) != invoice_total:
        what = f"the sum of the lines {total}" + (f" plus tax {cents(tax)}" if tax is not None else "")
        raise ctx.fail(f"total {stated} does not equal {what}", "total")
    if invoice_total < 0 and record.get("type") in (None, ""):
        big[6] = "CR"  # a bill whose total is below zero is a credit memo (BIG07), its amounts as they are
    segs.append(("TDS", [implied(invoice_total)]))
    if tax is not None:
        segs.append(("TXI", ["VA", decimal_text(cents(tax), 2)]))
    segs.append(("CTT", [str(count)]))
    return segs


def purchase_order_850(record: Mapping[str, Any], index: int | None = None, *, length: str = "cut",
                       notes: list[dict[str, Any]] | None = None) -> list[Seg]:
    """850 Purchase Order: BEG, CUR, N1 loops, PO1/PID loops, CTT."""
    ctx = RecordFields(record, index, "number", length=length, notes=notes)
    segs: list[Seg] = [("BEG", ["00", record.get("type") or "SA", ctx.text(record, "number", 22, required=True),
                                None, _d8(ctx.date(record, "date", required=True))])]
    if record.get("currency"):
        segs.append(("CUR", ["BY", ctx.text(record, "currency", 3)]))
    segs += _parties(ctx)
    lines, _total, count = _lines(ctx, "PO1")
    segs += lines
    segs.append(("CTT", [str(count)]))
    return segs


def payment_820(record: Mapping[str, Any], index: int | None = None, *, length: str = "cut",
                notes: list[dict[str, Any]] | None = None) -> list[Seg]:
    """820 Payment Order / Remittance Advice: BPR, TRN, CUR, N1 PR/PE, ENT + RMR per invoice."""
    ctx = RecordFields(record, index, "reference", length=length, notes=notes)
    amount = cents(ctx.amount(record, "amount", required=True))  # type: ignore[arg-type]
    remittances = record.get("remittances") or []
    if not remittances:
        raise ctx.fail("has no remittance lines", "remittances")
    paid = Decimal(0)
    rmr: list[Seg] = []
    for i, item in enumerate(remittances, 1):
        label = f"remittances[{i}]"
        item_paid = cents(ctx.amount(item, "amount_paid", required=True, at=label))  # type: ignore[arg-type]
        paid += item_paid
        total = ctx.amount(item, "invoice_total", at=label)
        discount = ctx.amount(item, "discount", at=label)
        rmr.append(("RMR", ["IV", ctx.text(item, "invoice_number", 30, required=True, at=label),
                            None, decimal_text(item_paid), decimal_text(cents(total)) if total is not None else None,
                            decimal_text(cents(discount)) if discount else None]))
    if paid != amount:
        raise ctx.fail(f"amount {amount} does not equal the sum paid on its invoices {paid}", "amount")
    method = ctx.text(record, "method", 3) or "CHK"
    segs: list[Seg] = [
        ("BPR", [record.get("handling") or "C", decimal_text(amount), "C", method, *([None] * 11),
                 _d8(ctx.date(record, "date", required=True))]),
        ("TRN", ["1", ctx.text(record, "reference", 30, required=True),
                 ctx.text(record, "originator_id", 10)]),
    ]
    if record.get("currency"):
        segs.append(("CUR", ["PR", ctx.text(record, "currency", 3)]))
    segs += [s for s in _parties(ctx) if s[0] == "N1"]
    segs.append(("ENT", ["1"]))
    segs += rmr
    return segs


def ship_notice_856(record: Mapping[str, Any], index: int | None = None, *, length: str = "cut",
                    notes: list[dict[str, Any]] | None = None) -> list[Seg]:
    """856 Ship Notice: BSN, HL shipment (DTM, N1), HL order (PRF), HL item (LIN, SN1) ..., CTT = HL count."""
    ctx = RecordFields(record, index, "shipment_id", length=length, notes=notes)
    when = ctx.date(record, "date", required=True)
    segs: list[Seg] = [("BSN", ["00", ctx.text(record, "shipment_id", 30, required=True), _d8(when), "0000", "0001"]),
                       ("HL", ["1", None, "S", "1"])]
    ship_date = ctx.date(record, "ship_date")
    if ship_date:
        segs.append(("DTM", ["011", _d8(ship_date)]))
    segs += [s for s in _parties(ctx) if s[0] == "N1"]
    segs += [("HL", ["2", "1", "O", "1"]), ("PRF", [ctx.text(record, "po_number", 22, required=True)])]
    lines = record.get("lines") or []
    if not lines:
        raise ctx.fail("has no lines", "lines")
    for i, line in enumerate(lines, 1):
        label = f"lines[{i}]"
        quantity = ctx.amount(line, "quantity", required=True, at=label)
        segs += [("HL", [str(i + 2), "2", "I", "0"]),
                 ("LIN", [None, line.get("item_qualifier") or "VP",
                          ctx.text(line, "item_id", 48, required=True, at=label)]),
                 ("SN1", [None, decimal_text(quantity), ctx.text(line, "uom", 2, at=label) or "EA"])]  # type: ignore[arg-type]
    segs.append(("CTT", [str(len(lines) + 2)]))
    return segs


def vendor_838(record: Mapping[str, Any], index: int | None = None, *, length: str = "cut",
               notes: list[dict[str, Any]] | None = None) -> list[Seg]:
    """838 Trading Partner Profile, one vendor per set: BTP, LX, N1 loop (N3, N4, PER, CUR, ITD)."""
    ctx = RecordFields(record, index, "id", length=length, notes=notes)
    vendor_id = ctx.text(record, "id", 30, required=True)
    modified = ctx.date(record, "modified", required=True)
    segs: list[Seg] = [("BTP", ["00", vendor_id, _d8(modified), "0000", "VM"]), ("LX", ["1"])]
    segs += _parties(RecordFields({**record, "parties": [{**record, "role": "VN"}]}, index, "id", length=length,
                                  notes=notes))
    if record.get("contact") or record.get("email") or record.get("phone"):
        per: list[Any] = ["IC", ctx.text(record, "contact", 60, cut=True)]
        if record.get("email"):
            per += ["EM", ctx.text(record, "email", 80)]
        if record.get("phone"):
            per += ["TE", ctx.text(record, "phone", 80)]
        segs.append(("PER", per))
    if record.get("currency"):
        segs.append(("CUR", ["VN", ctx.text(record, "currency", 3)]))
    terms = record.get("terms") or {}
    if terms.get("description") or terms.get("net_days"):
        segs.append(("ITD", ["01", "3", None, None, None, None, ctx.text(terms, "net_days", 3, label="terms.net_days"),
                             None, None, None, None,
                             ctx.text(terms, "description", 80, cut=True, label="terms.description")]))
    return segs


BUILDERS: dict[str, Callable[..., list[Seg]]] = {
    "810": invoice_810, "820": payment_820, "850": purchase_order_850, "856": ship_notice_856, "838": vendor_838,
}
