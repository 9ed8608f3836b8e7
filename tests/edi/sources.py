"""Source-system records (as the hooks hand them over) for the shipped mappings."""

from __future__ import annotations

INTACCT_BILL = {
    "RECORDNO": "3301", "RECORDID": "BILL-1001", "WHENCREATED": "2026-11-02", "WHENDUE": "2026-12-02",
    "DOCNUMBER": "PO-555", "VENDORID": "V100", "VENDORNAME": "Acme Distribution, Inc.", "CURRENCY": "USD",
    "TERMNAME": "Net 30", "TOTALENTERED": "325.00",
    "APBILLITEMS": {"APBILLITEM": [
        {"LINE_NO": "1", "TRX_AMOUNT": "125.00", "ENTRYDESCRIPTION": "Widgets, blue", "ACCOUNTNO": "6100"},
        {"LINE_NO": "2", "TRX_AMOUNT": "200.00", "ENTRYDESCRIPTION": "Freight", "ACCOUNTNO": "6200"}]},
}
INTACCT_VENDOR = {
    "RECORDNO": "17", "VENDORID": "V100", "NAME": "Acme Distribution, Inc.", "STATUS": "active", "TAXID": "12-3456789",
    "TERMNAME": "Net 30", "CURRENCY": "USD", "WHENMODIFIED": "2026-11-01T10:00:00",
    "DISPLAYCONTACT": {"CONTACTNAME": "Jane Roe", "EMAIL1": "ap@acme.example", "PHONE1": "555-0100",
                       "MAILADDRESS": {"ADDRESS1": "100 Main St", "CITY": "Springfield", "STATE": "IL", "ZIP": "62701",
                                       "COUNTRY": "United States", "COUNTRYCODE": "US"}},
}
EXACT_PURCHASE_ENTRY = {
    "EntryNumber": "26100001", "YourRef": "SUP-INV-77", "EntryDate": "2026-11-03", "DueDate": "2026-12-03",
    "Currency": "EUR", "AmountFC": "242.00", "SupplierName": "Lieferant GmbH", "SupplierCode": "20001",
    "PurchaseEntryLines": [{"LineNumber": 1, "AmountFC": "200.00", "Description": "Bürobedarf", "GLAccountCode": "4930"},
                           {"LineNumber": 2, "AmountFC": "42.00", "Description": "Versand", "GLAccountCode": "4910"}],
}
EXACT_PAYMENT = {
    "PaymentReference": "PAY-2026-0042", "PaymentDate": "2026-11-10", "AmountFC": "242.00", "PaymentMethod": "B",
    "Currency": "EUR", "SupplierName": "Lieferant GmbH", "SupplierCode": "20001",
    "Invoices": [{"YourRef": "SUP-INV-77", "AmountPaid": "242.00", "InvoiceAmount": "242.00"}],
}
INTACCT_GLACCOUNT = {"RECORDNO": "3", "ACCOUNTNO": "6220", "TITLE": "Packaging", "ACCOUNTTYPE": "incomestatement",
                     "NORMALBALANCE": "debit", "STATUS": "active", "WHENMODIFIED": "10/17/2026 00:08:38"}
INTACCT_DIMENSION = {"DIMENSION": "DEPARTMENT", "RECORDNO": "2", "ID": "OPS", "NAME": "Operations", "PARENTID": "",
                     "STATUS": "active", "WHENMODIFIED": "10/17/2026 00:08:38"}

SOURCES = {
    "intacct_to_sftp/bills_x12_810.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_edifact_invoic.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_fixed_width.yaml": INTACCT_BILL,
    "intacct_to_sftp/vendors_csv.yaml": INTACCT_VENDOR,
    "intacct_to_sftp/vendors_x12_838.yaml": INTACCT_VENDOR,
    "intacct_to_sftp/gl_accounts_csv.yaml": INTACCT_GLACCOUNT,
    "intacct_to_sftp/dimensions_csv.yaml": INTACCT_DIMENSION,
    "exact_online_to_sftp/purchase_invoices_x12_810.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/payments_x12_820.yaml": EXACT_PAYMENT,
    "intacct_to_sterling/bills_x12_810.yaml": INTACCT_BILL,
    "intacct_to_snowflake/vendors_stage_csv.yaml": INTACCT_VENDOR,
}
