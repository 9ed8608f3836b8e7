"""Source-system records (as the hooks hand them over) for the shipped mappings."""

from __future__ import annotations

INTACCT_BILL = {
    "RECORDNO": "3301", "RECORDID": "BILL-1001", "WHENCREATED": "2026-11-02", "WHENDUE": "2026-12-02",
    "DOCNUMBER": "PO-555", "VENDORID": "V100", "VENDORNAME": "Acme Distribution, Inc.", "CURRENCY": "USD",
    "TERMNAME": "Net 30", "TOTALENTERED": "325.00",
    "APBILLITEMS": {"APBILLITEM": [
        {"LINE_NO": "1", "TRX_AMOUNT": "125.00", "ENTRYDESCRIPTION": "Widgets, blue", "ACCOUNTNO": "6100",
         "ACCOUNTTITLE": "Office Supplies", "DEPARTMENTID": "SAL", "LOCATIONID": "HQ", "CLASSID": "WHOLESALE",
         "PROJECTID": "P-7"},
        {"LINE_NO": "2", "TRX_AMOUNT": "200.00", "ENTRYDESCRIPTION": "Freight", "ACCOUNTNO": "6200",
         "ACCOUNTTITLE": "Freight", "DEPARTMENTID": "OPS", "LOCATIONID": "EAST", "CLASSID": "", "PROJECTID": ""}]},
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
    "Currency": "EUR", "AmountFC": "292.82", "VATAmountFC": "50.82", "SupplierName": "Lieferant GmbH",
    "SupplierCode": "20001",
    "PurchaseEntryLines": [{"LineNumber": 1, "AmountFC": "200.00", "Description": "Bürobedarf", "GLAccountCode": "4930",
                            "CostCenter": "100", "CostUnit": "P1", "Quantity": 1, "VATCode": "2", "VATAmountFC": "42.00"},
                           {"LineNumber": 2, "AmountFC": "42.00", "Description": "Versand", "GLAccountCode": "4910",
                            "CostCenter": "200", "VATCode": "2", "VATAmountFC": "8.82"}],
}
EXACT_PURCHASE_ORDER = {
    "PurchaseOrderID": "6f0c5a52-1111-4c44-9d0e-2f3b9d1c0a01", "OrderNumber": 512, "OrderDate": "2026-11-04",
    "Currency": "EUR", "SupplierCode": "20001", "SupplierName": "Lieferant GmbH", "AmountFC": "137.40",
    "PurchaseOrderLines": [
        {"LineNumber": 1, "ItemCode": "ART-100", "Description": "Verpakkingsfolie", "Quantity": 10, "Unit": "ROL",
         "NetPrice": "12.50", "AmountFC": "125.00", "CostCenter": "100", "CostUnit": "P1"},
        {"LineNumber": 2, "ItemCode": "ART-200", "Description": "Kartonnen dozen", "Quantity": 16, "Unit": "DOOS",
         "NetPrice": "0.775", "AmountFC": "12.40", "CostCenter": "200"}],
}
EXACT_GL_LINE = {"ID": "0307784d-3a2d-4ad0-a7d0-c0a431b0f869", "EntryNumber": 26100018, "LineNumber": 2,
                 "Date": "2026-11-03", "FinancialYear": 2026, "FinancialPeriod": 11, "JournalCode": "60",
                 "GLAccountCode": "4000", "GLAccountDescription": "Inkoopwaarde", "Description": "Inkoopwaarde regel 2",
                 "AmountDC": -98.38, "AmountFC": -98.38, "Currency": "EUR", "CostCenter": "300", "CostUnit": "P1",
                 "AccountName": "Lieferant 00008 B.V.", "YourRef": "SUP-000018"}
EXACT_DELETION = {"ID": "50db9b8e-0c7f-592d-9c3d-cda0952edfdc", "EntityKey": "0ae96d79-6ae0-4d75-b484-dccbc5d12434",
                  "EntityType": 2, "Entity": "account", "DeletedDate": "2026-11-02T11:00:00Z", "Division": 3180461}
EXACT_PAYMENT = {
    "PaymentReference": "PAY-2026-0042", "PaymentDate": "2026-11-10", "AmountFC": "242.00", "PaymentMethod": "B",
    "Currency": "EUR", "SupplierName": "Lieferant GmbH", "SupplierCode": "20001",
    "Invoices": [{"YourRef": "SUP-INV-77", "AmountPaid": "242.00", "InvoiceAmount": "242.00"}],
}
EXACT_SUPPLIER = {"ID": "9a1de24e-dab8-41d5-beef-16e964ef2ebe", "Code": "20012", "Name": "Kantoor 00012 B.V.",
                  "AddressLine1": "Industrieweg 12", "Postcode": "1012 AB", "City": "Utrecht", "Country": "NL",
                  "VATNumber": "NL100000012B01", "Email": "ap12@leverancier12.example", "Blocked": False,
                  "PurchaseCurrency": "EUR", "Modified": "2026-10-22T14:32:24Z"}
EXACT_GLACCOUNT = {"ID": "244caf9c-4dab-4481-b253-edc618187993", "Code": "4500", "Description": "Advieskosten",
                   "Type": 110, "TypeDescription": "Kosten", "BalanceType": "W", "BalanceSide": "D", "IsBlocked": False}
EXACT_GLMAPPING = {"ID": "09208a65-0f3e-4dd3-902b-938b8743feb6", "GLAccountCode": "4200",
                   "GLAccountDescription": "Verpakking", "GLSchemeCode": "RGS", "ClassificationCode": "RGS.4200",
                   "ClassificationDescription": "RGS Verpakking"}
EXACT_COST = {"ID": "111b8aaa-62f2-4d1a-8a78-9cb3d8b9b45c", "Code": "300", "Description": "Logistiek", "EndDate": None}

INTACCT_GLACCOUNT = {"RECORDNO": "3", "ACCOUNTNO": "6220", "TITLE": "Packaging", "ACCOUNTTYPE": "incomestatement",
                     "NORMALBALANCE": "debit", "STATUS": "active", "WHENMODIFIED": "10/17/2026 00:08:38"}
INTACCT_DIMENSION = {"DIMENSION": "DEPARTMENT", "RECORDNO": "2", "ID": "OPS", "NAME": "Operations", "PARENTID": "",
                     "STATUS": "active", "WHENMODIFIED": "10/17/2026 00:08:38"}

INTACCT_PAYMENT = {"RECORDNO": "8", "FINANCIALENTITY": "BOA-CHECKING", "PAYMENTMETHOD": "ACH", "VENDORID": "V00006",
                   "VENDORNAME": "Granite Logistics", "DOCNUMBER": "PAY-0000032", "DESCRIPTION": "Payment of INV-32",
                   "WHENCREATED": "11/01/2026", "STATE": "Complete", "CURRENCY": "USD", "TOTALENTERED": "1256.28"}
INTACCT_DELETION = {"OBJECT": "APBILL", "RECORDNO": "41", "DELETED_AT": "11/12/2026 09:15:02"}

SOURCES = {
    "intacct_to_sftp/bills_x12_810.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_edifact_invoic.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_fixed_width.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_lines_csv.yaml": INTACCT_BILL,
    "intacct_to_sftp/bills_lines_fixed_width.yaml": INTACCT_BILL,
    "intacct_to_sftp/vendors_csv.yaml": INTACCT_VENDOR,
    "intacct_to_sftp/vendors_x12_838.yaml": INTACCT_VENDOR,
    "intacct_to_sftp/gl_accounts_csv.yaml": INTACCT_GLACCOUNT,
    "intacct_to_sftp/dimensions_csv.yaml": INTACCT_DIMENSION,
    "intacct_to_sftp/payments_csv.yaml": INTACCT_PAYMENT,
    "intacct_to_sftp/deletes_csv.yaml": INTACCT_DELETION,
    "exact_online_to_sftp/purchase_invoices_x12_810.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/payments_x12_820.yaml": EXACT_PAYMENT,
    "exact_online_to_sftp/purchase_invoices_csv.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/purchase_invoices_edifact_invoic.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/purchase_invoices_fixed_width.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/purchase_invoice_lines_csv.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/purchase_orders_x12_850.yaml": EXACT_PURCHASE_ORDER,
    "exact_online_to_sftp/gl_transactions_csv.yaml": EXACT_GL_LINE,
    "exact_online_to_sftp/gl_transactions_fixed_width.yaml": EXACT_GL_LINE,
    "exact_online_to_sftp/deletes_csv.yaml": EXACT_DELETION,
    "exact_online_to_sftp/purchase_invoice_lines_fixed_width.yaml": EXACT_PURCHASE_ENTRY,
    "exact_online_to_sftp/suppliers_csv.yaml": EXACT_SUPPLIER,
    "exact_online_to_sftp/gl_accounts_csv.yaml": EXACT_GLACCOUNT,
    "exact_online_to_sftp/gl_account_mappings_csv.yaml": EXACT_GLMAPPING,
    "exact_online_to_sftp/cost_centres_csv.yaml": EXACT_COST,
    "exact_online_to_sftp/cost_units_csv.yaml": EXACT_COST,
    "intacct_to_sterling/bills_x12_810.yaml": INTACCT_BILL,
    "intacct_to_sterling/bills_x12_850.yaml": INTACCT_BILL,
}
