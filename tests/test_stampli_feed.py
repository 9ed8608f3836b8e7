"""Reading Stampli files through a feed, checking rows and grouping them into bills and payments."""

from __future__ import annotations

import re

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from mlc.formats.errors import MappingError
from mlc.formats.feed import FeedFile, FeedSchemaError, RowError, load_feed
from mlc.formats.stampli import assemble_invoices, assemble_payments, bill_record, normalise_name, payment_record

FEEDS = Path(__file__).resolve().parent.parent / "include" / "mappings" / "stampli_to_intacct"
INVOICES = load_feed(FEEDS / "invoices_feed.yaml")
PAYMENTS = load_feed(FEEDS / "payments_feed.yaml")
HEADER = "Invoice Number,Vendor ID,Vendor Name,Invoice Date,Due Date,Currency,Invoice Total,GL Account,Line Amount," \
         "Line Memo,Department\r\n"


def read(text: str, config=INVOICES, encoding: str = "utf-8-sig") -> FeedFile:
    return FeedFile(io.BytesIO(text.encode(encoding)), config, "test.csv")


def test_shipped_feeds_load():
    assert INVOICES.feed == "invoices" and PAYMENTS.feed == "payments"
    assert PAYMENTS.payment_methods["check"] == "Printed Check"


def test_bom_quoted_delimiters_thousands_and_header_case_are_taken():
    text = ("\ufeff" + HEADER.upper() +
            'INV-1,V1,"Acme, Inc.",11/02/2026,12/02/2026,usd,"1,234.50",6100,"1,000.00","boxes, tape",OPS\r\n'
            'INV-1,V1,"Acme, Inc.",11/02/2026,12/02/2026,usd,"1,234.50",6200,234.50,,\r\n\r\n')
    feed = read(text)
    rows = list(feed.rows())
    assert [r.number for r in rows] == [2, 3]
    assembled = assemble_invoices(rows, INVOICES)
    assert assembled.rejected == {}
    (bill,) = assembled.records
    assert (bill.number, bill.currency, bill.total, bill.amount) == ("INV-1", "USD", Decimal("1234.50"),
                                                                     Decimal("1234.50"))
    record = bill_record(bill, "V1")
    assert record == {
        "VENDORID": "V1", "RECORDID": "INV-1", "WHENCREATED": "11/02/2026", "WHENDUE": "12/02/2026", "CURRENCY": "USD",
        "APBILLITEMS": {"APBILLITEM": [
            {"ACCOUNTNO": "6100", "TRX_AMOUNT": "1000.00", "ENTRYDESCRIPTION": "boxes, tape", "DEPARTMENTID": "OPS"},
            {"ACCOUNTNO": "6200", "TRX_AMOUNT": "234.50"}]}}


def test_a_bad_line_holds_its_whole_bill_back_and_names_row_and_field():
    text = (HEADER + "INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,,\r\n"
                     "INV-1,V1,Acme,11/02/2026,,USD,,6200,1O.00,,\r\n"
                     "INV-2,V1,Acme,2026-11-03,,USD,,6200,(5.00),,\r\n")
    credits = replace(INVOICES, allow_credit_memos=True)  # INV-2 is a credit memo: this feed takes them
    assembled = assemble_invoices(read(text, credits).rows(), credits)
    assert [b.number for b in assembled.records] == ["INV-2"]
    assert assembled.records[0].amount == Decimal("-5.00")
    bad = "'1O.00' is not an amount in this feed's notation (decimal '.', thousands ',', e.g. 1,234.56)"
    assert assembled.rejected[3].field == "amount" and assembled.rejected[3].reason == bad
    assert assembled.rejected[2].reason == f"invoice INV-1 not posted: row 3 has a problem (amount: {bad})"


def test_a_missing_required_column_refuses_the_file_naming_it():
    with pytest.raises(FeedSchemaError, match=r"'GL Account' \(gl_account_no\)"):
        read(HEADER.replace("GL Account,", "") + "INV-1,V1,Acme,11/02/2026,,USD,,10.00,,\r\n")


def test_a_file_in_another_encoding_is_refused_not_misread():
    with pytest.raises(FeedSchemaError, match="not utf-8-sig"):
        list(read(HEADER + "INV-1,V1,Bäcker,11/02/2026,,USD,,6100,10.00,,\r\n", encoding="latin-1").rows())
    latin = replace(INVOICES, encoding="latin-1")
    (row,) = list(read(HEADER + "INV-1,V1,Bäcker,11/02/2026,,USD,,6100,10.00,,\r\n", latin, "latin-1").rows())
    assert row.values["vendor_name"] == "Bäcker"


def test_row_checks_dates_currencies_and_ragged_rows():
    text = (HEADER + "INV-1,V1,Acme,13/45/2026,,USD,,6100,10.00,,\r\n"
                     "INV-2,V1,Acme,11/02/2026,,DOLLARS,,6100,10.00,,\r\n"
                     "INV-3,V1,Acme,11/02/2026,,USD,,6100\r\n"
                     "INV-4,V1,Acme,11/02/2026,10/01/2026,USD,,6100,1.00,,\r\n")
    assembled = assemble_invoices(read(text).rows(), INVOICES)
    assert assembled.records == []
    assert assembled.rejected[2].reason == "'13/45/2026' is not a date (expected %m/%d/%Y, e.g. 01/31/2026)"
    assert assembled.rejected[3].reason == "'DOLLARS' is not a currency code (three letters, e.g. USD)"
    assert assembled.rejected[4].reason == "the row has 8 cells, the header 11"
    assert assembled.rejected[5].reason == "invoice INV-4 not posted: due date 2026-10-01 is before the invoice date 2026-11-02"


def test_cancelled_rows_are_skipped_not_rejected():
    config = replace(INVOICES, columns={**INVOICES.columns, "approval_status": "Status"})
    text = HEADER.replace("\r\n", ",Status\r\n") + "INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,,,Cancelled\r\n"
    assembled = assemble_invoices(read(text, config).rows(), config)
    assert assembled.records == [] and assembled.rejected == {} and assembled.skipped == {
        2: "status 'cancelled' in Stampli: not posted"}


def test_payments_group_by_reference_and_map_methods():
    header = "Payment ID,Invoice Number,Vendor ID,Vendor Name,Payment Date,Payment Method,Amount Paid,Currency," \
             "Payment Reference,Bank Account\r\n"
    text = (header + "P1,INV-1,V1,,11/20/2026,Check,100.00,USD,CHK 1001,BOA\r\n"
                     "P1,INV-2,V1,,11/20/2026,Check,50.00,USD,CHK 1001,BOA\r\n"
                     "P2,INV-3,V2,,11/20/2026,Barter,5.00,USD,X-1,BOA\r\n")
    assembled = assemble_payments(read(text, PAYMENTS).rows(), PAYMENTS)
    (payment,) = assembled.records
    assert (payment.reference, payment.method, payment.amount) == ("CHK 1001", "Printed Check", Decimal("150.00"))
    assert "payment method 'Barter' is not one Intacct knows" in assembled.rejected[4].reason
    record = payment_record(payment, "V1", {"INV-1": "11", "INV-2": "12"}, "")
    assert record["APPYMTDETAILS"] == {"APPYMTDETAIL": [{"RECORDKEY": "11", "TRX_PAYMENTAMOUNT": "100.00"},
                                                        {"RECORDKEY": "12", "TRX_PAYMENTAMOUNT": "50.00"}]}
    assert (record["PAYMENTDATE"], record["DOCNUMBER"], record["FINANCIALENTITY"]) == ("11/20/2026", "CHK 1001", "BOA")


def test_vendor_names_normalise():
    assert normalise_name("ACME Supply, Inc.") == normalise_name("Acme  Supply") == "acme supply"
    assert normalise_name("Bäcker & Söhne GmbH") == "backer and sohne"


def test_feed_mistakes_are_named(tmp_path):
    path = tmp_path / "bad_feed.yaml"
    path.write_text("feed: invoices\ncolumns: {invoice_number: Inv}\nrequired: [vendor_id]\n")
    with pytest.raises(MappingError, match="required column.s. vendor_id have no header"):
        load_feed(path)
    path.write_text("feed: invoices\ncolumns: {invoice_number: Inv}\ndelimeter: ';'\n")
    with pytest.raises(MappingError, match="unknown setting.s. delimeter"):
        load_feed(path)


def test_row_error_text():
    assert str(RowError("bad", row=4, field="amount")) == "row 4 field 'amount': bad"
    assert INVOICES.day("2026-11-02", "invoice_date") == date(2026, 11, 2)


@pytest.mark.parametrize("text, value", [("1,234.56", "1234.56"), ("1234.5", "1234.50"), ("-12", "-12.00"),
                                         ("(12.00)", "-12.00"), ("$1,000", "1000.00"), ("0.10", "0.10"),
                                         (" 7 ", "7.00"), ("1,234,567.89", "1234567.89")])
def test_amounts_in_the_declared_notation(text, value):
    assert INVOICES.amount(text, "amount", 2) == Decimal(value)


@pytest.mark.parametrize("text, why", [
    ("1.234,56", "not an amount in this feed's notation"), ("1,2,3", "not an amount"), ("12,34.00", "not an amount"),
    ("1_000", "not an amount"), ("\u0661\u0662", "not an amount"), ("1E+26", "not an amount"),
    ("NaN", "not an amount"), ("12.345", "more decimals than the currency allows (2); not rounded"),
    ("9" * 100_000, "too large"), ("(-5)", "not an amount"), ("", "not an amount"),
])
def test_anything_else_is_refused_never_read_as_another_number(text, why):
    with pytest.raises(RowError, match=re.escape(why)) as err:
        INVOICES.amount(text, "amount", 2)
    assert err.value.row == 2 and err.value.field == "amount"


def test_the_european_notation_when_the_feed_declares_it():
    european = replace(INVOICES, decimal=",", thousands=".")
    assert european.amount("1.234,56", "amount") == Decimal("1234.56")
    with pytest.raises(RowError):
        european.amount("1,234.56", "amount")


def test_a_header_naming_a_mapped_column_twice_refuses_the_file():
    header = HEADER.replace("Line Amount,", "Line Amount,Line Amount,")
    with pytest.raises(FeedSchemaError, match=r"names 'Line Amount' \(amount\) 2 times \(columns 9, 10\)"):
        read(header + "INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,10.00,,\r\n")


@pytest.mark.parametrize("bad_line", ['INV-2,V1,"Acme,11/02/2026,,USD,,6100,10.00,,\r\n',  # unterminated quote
                                      'INV-2,V1,"Acme"x,11/02/2026,,USD,,6100,10.00,,\r\n'])  # after the quote
def test_a_line_the_reader_cannot_parse_refuses_the_whole_file_with_its_line(bad_line):
    text = (HEADER + "INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,,\r\n" + bad_line +
            "".join(f"INV-{n},V1,Acme,11/02/2026,,USD,,6100,10.00,,\r\n" for n in range(3, 50)))
    with pytest.raises(FeedSchemaError, match=r"line 3 (\(read to line 50\) )?is not valid CSV .*no row of this "
                                              r"file is posted"):
        list(read(text).rows())


def test_zero_bills_credit_memos_and_dates_out_of_range_follow_the_feed_rules():
    text = (HEADER + "INV-1,V1,Acme,11/02/2026,,USD,,6100,0.00,,\r\n"
                     "INV-2,V1,Acme,11/02/2026,,USD,,6100,-5.00,,\r\n"
                     "INV-3,V1,Acme,01/01/0001,,USD,,6100,5.00,,\r\n"
                     "INV-4,V1,Acme,12/31/9999,,USD,,6100,5.00,,\r\n"
                     "INV-5,V1,Acme,11/02/2026,,USD,,6100,5.00,,\r\n")
    strict = assemble_invoices(read(text).rows(), INVOICES)
    assert [b.number for b in strict.records] == ["INV-5"]
    assert "zero-amount bill" in strict.rejected[2].reason and "credit memo" in strict.rejected[3].reason
    assert "outside the dates this feed takes" in strict.rejected[4].reason
    assert "outside the dates this feed takes" in strict.rejected[5].reason
    lenient = replace(INVOICES, allow_credit_memos=True, allow_zero_amounts=True)
    assert [b.number for b in assemble_invoices(read(text, lenient).rows(), lenient).records] == ["INV-1", "INV-2",
                                                                                                    "INV-5"]


def test_rows_are_numbered_as_a_spreadsheet_shows_them_whatever_the_line_breaks_inside_cells():
    text = (HEADER + 'INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,"boxes\r\nand\r\ntape",\r\n'
                     "INV-2,V1,Acme,11/02/2026,,USD,,6200,1O.00,,\r\n")

    rows = list(read(text).rows())

    assert [r.number for r in rows] == [2, 3]
    assert assemble_invoices(rows, INVOICES).rejected[3].row == 3


def test_the_error_report_guards_header_cells_and_keeps_every_cell_of_a_rejected_row():
    from mlc.operators.feeds import error_report

    header = ["Invoice Number", "=HYPERLINK(\"http://evil\")", "Amount"]
    report = error_report(INVOICES, header, [(["INV-1", "@SUM(A1)", "10.00", "surplus", "-cmd"], "row 2: too many cells")])

    lines = report.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "Invoice Number,\"'=HYPERLINK(\"\"http://evil\"\")\",Amount,extra 1,extra 2,Reason"
    assert lines[1] == "INV-1,'@SUM(A1),10.00,surplus,'-cmd,row 2: too many cells"


def test_the_spool_gives_each_bills_rows_back_together_a_few_bills_at_a_time_and_outcomes_in_file_order(tmp_path):
    from mlc.formats.stampli import bill_key
    from mlc.operators.stampli_spool import RowSpool

    text = (HEADER + "INV-1,V1,Acme,11/02/2026,,USD,,6100,10.00,,\r\n"
                     "INV-2,V2,Bolt,11/02/2026,,USD,,6100,20.00,,\r\n"
                     ",,,11/02/2026,,USD,,6100,1.00,,\r\n"  # names no bill: a group of its own
                     "inv-1,V1,Acme,11/02/2026,,USD,,6200,11.00,\"a\r\nb\",\r\n"  # INV-1 again, another case
                     "INV-3,V1,Acme,11/02/2026,,USD,,6100,30.00,,\r\n")
    spool = RowSpool(tmp_path)

    assert spool.fill(read(text).rows(), bill_key) == 5
    batches = [[row.number for row in batch] for batch in spool.batches(2)]
    assert batches == [[2, 5, 3], [4, 6]]  # INV-1's rows together; groups in the order of their first row
    assemble = [assemble_invoices(batch, INVOICES) for batch in spool.batches(2)]
    assert [[b.number for b in a.records] for a in assemble] == [["INV-1", "INV-2"], ["INV-3"]]
    spool.settle({6: {"status": "posted"}, 2: {"status": "posted"}})
    spool.settle({2: {"status": "rejected"}, 3: {"status": "posted"}})  # the first outcome of a row stands
    assert [(row.number, result["status"]) for row, result in spool.settled()] == [
        (2, "posted"), (3, "posted"), (6, "posted")]
    assert spool.widest == 11
    spool.close()


# -- XML templates ---------------------------------------------------------------------------------------------
XML_INVOICE = b"""<?xml version="1.0" encoding="UTF-8"?>
<StampliExport xmlns="urn:stampli:export">
  <Invoice>
    <StampliInvoiceId>S1</StampliInvoiceId>
    <InvoiceNumber>INV-1</InvoiceNumber>
    <Vendor><Id>V100</Id><Name>Smith &amp; Sons</Name></Vendor>
    <InvoiceDate>11/17/2026</InvoiceDate>
    <Currency>USD</Currency>
    <Total>1,325.00</Total>
    <ApprovalStatus>Approved</ApprovalStatus>
    <Lines>
      <Line number="1"><GLAccount>6100</GLAccount><Amount>1,125.00</Amount><Department>SAL</Department></Line>
      <Line number="2"><GLAccount>6200</GLAccount><Amount>200.00</Amount></Line>
    </Lines>
  </Invoice>
  <Invoice>
    <InvoiceNumber>INV-2</InvoiceNumber>
    <Vendor><Id>V200</Id></Vendor>
    <InvoiceDate>11/18/2026</InvoiceDate>
    <Currency>USD</Currency>
    <Lines><Line number="1"><Amount>5.00</Amount></Line></Lines>
  </Invoice>
</StampliExport>
"""


def xml_rows(data: bytes):
    from mlc.formats.feed import open_feed

    return list(open_feed(io.BytesIO(data), load_feed(FEEDS / "invoices_xml_feed.yaml"), "export.xml").rows())


def test_an_xml_template_gives_one_row_per_line_with_its_invoices_fields_and_the_lines_number():
    rows = xml_rows(XML_INVOICE)

    assert [(r.number, r.values["invoice_number"], r.values["vendor_name"], r.values["line_no"],
             r.values["gl_account_no"], r.values["amount"], r.values["department_id"]) for r in rows] == [
        (12, "INV-1", "Smith & Sons", "1", "6100", "1,125.00", "SAL"),
        (13, "INV-1", "Smith & Sons", "2", "6200", "200.00", ""),
        (21, "INV-2", "", "1", "", "5.00", "")]
    assert rows[0].error is None and rows[1].error is None
    assert str(rows[2].error) == "row 21 field 'gl_account_no': required value missing ('GLAccount')"
    assembled = assemble_invoices(rows, load_feed(FEEDS / "invoices_xml_feed.yaml"))
    (bill,) = assembled.records  # INV-2's only line has no GL account: the bill is held back whole
    assert (bill.number, bill.total, [(line.account, line.amount) for line in bill.lines]) == (
        "INV-1", Decimal("1325.00"), [("6100", Decimal("1125.00")), ("6200", Decimal("200.00"))])
    assert sorted(assembled.rejected) == [21]


@pytest.mark.parametrize(("data", "message"), [
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
     b"<StampliExport><Invoice><InvoiceNumber>&lol2;</InvoiceNumber></Invoice></StampliExport>",
     "declares a DOCTYPE"),
    (XML_INVOICE.replace(b"</Lines>\n  </Invoice>\n  <Invoice>", b"</Lines>\n  <Invoice>", 1),
     "not well-formed XML at line 2"),
    (b"", "not well-formed XML"),
])
def test_an_xml_file_that_cannot_be_trusted_is_refused_whole(data, message):
    with pytest.raises(FeedSchemaError, match=message) as caught:
        xml_rows(data)
    assert "export.xml" in str(caught.value)


def test_xml_feed_mistakes_are_named(tmp_path):
    text = (FEEDS / "invoices_xml_feed.yaml").read_text()
    for change, message in ((text.replace("row_path: Invoice/Lines/Line", "row_path: /etc/passwd"), "needs row_path"),
                            (text.replace("amount: Amount", "amount: Amount[1]"), "amount: 'Amount[1]'"),
                            (text.replace("format: xml", "format: json"), "format must be csv or xml")):
        path = tmp_path / "feed.yaml"
        path.write_text(change)
        with pytest.raises(MappingError, match=re.escape(message)):
            load_feed(path)
