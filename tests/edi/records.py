"""Canonical sample records for the format tests."""

from __future__ import annotations

INVOICE = {
    "number": "INV-1001", "date": "2024-01-15", "po_number": "PO-555", "po_date": "2024-01-10", "currency": "USD",
    "parties": [
        {"role": "RE", "name": "ACME DISTRIBUTION", "id": "V100", "address1": "100 MAIN ST", "city": "SPRINGFIELD",
         "state": "IL", "postal_code": "62701", "country": "US"},
        {"role": "BT", "name": "BUYER CORP", "id": "B200"},
    ],
    "terms": {"net_days": "30", "description": "NET 30", "due_date": "2024-02-14"},
    "lines": [
        {"quantity": 10, "uom": "EA", "unit_price": "12.5", "item_id": "WIDGET-A", "description": "WIDGET A BLUE"},
        {"quantity": 2, "uom": "CS", "unit_price": "100", "item_id": "WIDGET-B"},
    ],
    "total": "325.00",
}
PAYMENT = {
    "reference": "PAY-9001", "date": "2024-01-20", "amount": "325", "method": "ACH", "currency": "USD",
    "parties": [{"role": "PR", "name": "BUYER CORP"}, {"role": "PE", "name": "ACME DISTRIBUTION", "id": "V100"}],
    "remittances": [{"invoice_number": "INV-1001", "amount_paid": "300", "invoice_total": "325", "discount": "25"},
                    {"invoice_number": "INV-1002", "amount_paid": "25"}],
}
PURCHASE_ORDER = {
    "number": "PO-555", "date": "2024-01-10", "parties": [{"role": "ST", "name": "BUYER CORP WAREHOUSE"}],
    "lines": [{"quantity": 10, "uom": "EA", "unit_price": "12.5", "item_id": "WIDGET-A"}],
}
SHIP_NOTICE = {
    "shipment_id": "SHIP-77", "date": "2024-01-11", "ship_date": "2024-01-11", "po_number": "PO-555",
    "parties": [{"role": "ST", "name": "BUYER CORP WAREHOUSE"}],
    "lines": [{"quantity": 10, "item_id": "WIDGET-A"}, {"quantity": 2, "uom": "CS", "item_id": "WIDGET-B"}],
}
VENDOR = {
    "id": "V100", "name": "Acme Distribution", "address1": "100 Main St", "city": "Springfield", "state": "IL",
    "postal_code": "62701", "country": "US", "contact": "Jane Roe", "email": "ap@acme.example",
    "modified": "2024-01-01", "currency": "USD", "terms": {"description": "Net 30", "net_days": "30"},
}
SETS = {"810": INVOICE, "820": PAYMENT, "850": PURCHASE_ORDER, "856": SHIP_NOTICE, "838": VENDOR}
