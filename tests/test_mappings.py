"""Partner mappings: every shipped mapping loads and renders files the validators accept; mistakes
in a mapping are reported with the file, the line and what was expected."""

from __future__ import annotations

import copy
import io
import json
import warnings
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.control_numbers import FileControlNumberStore
from mlc.formats.errors import MappingError
from mlc.formats.mapping import load_mapping, samples_path
from mlc.formats.render import file_name, render
from tests.edi.sources import EXACT_PURCHASE_ENTRY, EXACT_PURCHASE_ORDER, INTACCT_BILL, SOURCES
from tests.edi.validators import bots_errors, pydifact_roundtrip, x12_envelope_errors

MAPPINGS = Path(__file__).resolve().parent.parent / "include" / "mappings"
WHEN = datetime(2026, 11, 21, 6, 0)


def run(mapping: dict, records: list[dict], tmp_path: Path, run_key: str = "run-1"):
    out = io.BytesIO()
    store = FileControlNumberStore(tmp_path / "control.json")
    result = render(mapping, records, out, timestamp=WHEN, run_key=run_key, store=store)
    return out.getvalue(), result


def assert_validators_accept(mapping: dict, data: bytes, sets: int) -> None:
    """X12: pyx12's envelope checks and bots; EDIFACT: bots, and pydifact reads back ``sets`` messages."""
    if mapping["format"] == "x12":
        assert x12_envelope_errors(data) == [] and bots_errors(data, "x12") == []
    elif mapping["format"] == "edifact":
        assert bots_errors(data, "edifact") == []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert len(list(pydifact_roundtrip(data.decode("latin-1")).get_messages())) == sets


def test_a_mapping_ships_for_each_flow():
    flows = {p.parent.name for p in MAPPINGS.rglob("*.yaml")}
    # intacct_to_snowflake has none: it MERGEs whole records into tables (its vendors_stage_csv was never used)
    assert flows == {"intacct_to_sftp", "stampli_to_intacct", "exact_online_to_sftp", "intacct_to_sterling"}
    assert set(SOURCES) == {str(p.relative_to(MAPPINGS)) for p in MAPPINGS.rglob("*.yaml")
                            if not p.name.endswith("_feed.yaml")}  # feeds read files: tests/test_stampli_feed.py


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_shipped_mapping_renders_a_valid_file(name, tmp_path):
    mapping = load_mapping(MAPPINGS / name)

    data, result = run(mapping, [SOURCES[name], SOURCES[name]], tmp_path)

    assert result.rejected == [] and result.records == 2 and result.bytes == len(data)
    assert_validators_accept(mapping, data, 2)
    assert file_name(mapping, timestamp=WHEN, run_id="manual__1", control="000000001")


def test_csv_vendor_file_exact(tmp_path):
    data, _ = run(load_mapping(MAPPINGS / "intacct_to_sftp/vendors_csv.yaml"), [SOURCES["intacct_to_sftp/vendors_csv.yaml"]],
                  tmp_path)

    assert data.decode() == (
        "vendor_id,name,status,tax_id,email,address1,city,state,postal_code,country,terms,modified\r\n"
        'V100,"Acme Distribution, Inc.",A,12-3456789,ap@acme.example,100 Main St,Springfield,IL,62701,'
        "United States,Net 30,2026-11-01\r\n")


def test_fixed_width_file_exact(tmp_path):
    data, _ = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_fixed_width.yaml"), [INTACCT_BILL, INTACCT_BILL],
                  tmp_path)

    lines = data.decode().split("\r\n")
    assert lines[0] == "HMLCBUYER".ljust(80)
    assert lines[1] == ("DBILL-1001           V100      Acme Distribution, Inc.  20261102"
                        "0000000032500USD")
    assert lines[3] == "T000000002000000000065000".ljust(80)
    assert all(len(line) == 80 for line in lines[:4]) and lines[4] == ""


def test_bills_as_csv_one_row_per_line_with_gl_account_and_dimensions_exact(tmp_path):
    data, result = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_lines_csv.yaml"), [INTACCT_BILL], tmp_path)

    assert result.records == 1 and result.rejected == []
    assert data.decode() == (
        "bill_number,vendor_id,vendor_name,bill_date,due_date,po_number,currency,bill_total,line_number,gl_account,"
        "gl_account_title,department,location,class,project,description,line_amount\r\n"
        'BILL-1001,V100,"Acme Distribution, Inc.",2026-11-02,2026-12-02,PO-555,USD,325.00,1,6100,Office Supplies,'
        'SAL,HQ,WHOLESALE,P-7,"Widgets, blue",125.00\r\n'
        "BILL-1001,V100,\"Acme Distribution, Inc.\",2026-11-02,2026-12-02,PO-555,USD,325.00,2,6200,Freight,OPS,EAST,,,"
        "Freight,200.00\r\n")


def test_bills_in_a_header_and_line_fixed_width_layout_exact(tmp_path):
    mapping = load_mapping(MAPPINGS / "intacct_to_sftp/bills_lines_fixed_width.yaml")
    lines = INTACCT_BILL["APBILLITEMS"]["APBILLITEM"]
    too_wide = dict(INTACCT_BILL, RECORDID="BILL-2", APBILLITEMS={"APBILLITEM": [lines[0], dict(
        lines[1], ACCOUNTNO="12345678901")]})

    data, result = run(mapping, [INTACCT_BILL, too_wide], tmp_path)

    assert data.decode().split("\r\n") == [
        "HMLCBUYER".ljust(100),
        "BBILL-1001           V100      Acme Distribution, Inc.       2026110220261202000000000032500USD".ljust(100),
        "LBILL-1001           00016100      SAL     HQ      WHOLESALE P-7     000000000012500Widgets, blue".ljust(100),
        "LBILL-1001           00026200      OPS     EAST                      000000000020000Freight".ljust(100),
        "T000000001000000002000000000032500".ljust(100), ""]
    assert result.records == 1 and [(r["key"], r["field"]) for r in result.rejected] == [("BILL-2", "gl_account")]


def test_a_record_header_layout_needs_lines(tmp_path):
    text = (MAPPINGS / "intacct_to_sftp/bills_lines_fixed_width.yaml").read_text().replace(
        "lines: APBILLITEMS.APBILLITEM", "")
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(MappingError, match="record_header heads each record's lines: the mapping needs 'lines'"):
        load_mapping(tmp_path / "m.yaml")


def test_a_bill_with_one_line_that_cannot_be_written_goes_not_at_all_and_the_others_go_whole(tmp_path):
    lines = INTACCT_BILL["APBILLITEMS"]["APBILLITEM"]
    broken = dict(INTACCT_BILL, RECORDID="BILL-2", APBILLITEMS={"APBILLITEM": [lines[0], dict(lines[1], ACCOUNTNO="")]})
    mapping = load_mapping(MAPPINGS / "intacct_to_sftp/bills_lines_csv.yaml")

    data, result = run(mapping, [broken, INTACCT_BILL], tmp_path)

    rows = data.decode().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["BILL-1001", "BILL-1001"] and result.records == 1
    assert result.rejected == [{"record": 1, "key": "BILL-2", "field": "gl_account", "error": "is required"}]


def test_exact_invoice_lines_fixed_width_exact_and_a_line_too_wide_keeps_its_invoice_out(tmp_path):
    mapping = load_mapping(MAPPINGS / "exact_online_to_sftp/purchase_invoice_lines_fixed_width.yaml")
    wide = dict(EXACT_PURCHASE_ENTRY, YourRef="SUP-INV-78", PurchaseEntryLines=[
        EXACT_PURCHASE_ENTRY["PurchaseEntryLines"][0], dict(EXACT_PURCHASE_ENTRY["PurchaseEntryLines"][1],
                                                           GLAccountCode="12345678901")])

    data, result = run(mapping, [EXACT_PURCHASE_ENTRY, wide], tmp_path)

    lines = data.decode().split("\r\n")
    assert lines[1] == ("LSUP-INV-77          2026110320001     00014930      100     P1      Bürobedarf".replace(
        "ü", "u") + " " * 20 + "000000000020000EUR").ljust(120)
    assert lines[2].split() == ["LSUP-INV-77", "2026110320001", "00024910", "200", "Versand", "000000000004200EUR"]
    assert lines[3] == "T000000002000000000024200".ljust(120) and lines[4] == ""
    assert result.records == 1 and [(r["key"], r["field"]) for r in result.rejected] == [("SUP-INV-78", "gl_account")]


def test_invoice_lines_carry_gl_account_and_dimensions_as_ref_in_the_it1_loop(tmp_path):
    data, _ = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_x12_810.yaml"), [INTACCT_BILL], tmp_path)

    segments = data.decode().replace("\n", "").split("~")
    first = segments.index("IT1*1*1*EA*125")
    assert segments[first:first + 7] == ["IT1*1*1*EA*125", "PID*F****Widgets, blue", "REF*ZZ*6100*GL ACCOUNT",
                                         "REF*DP*SAL", "REF*LU*HQ", "REF*ZZ*WHOLESALE*CLASS", "REF*PJ*P-7"]
    second = segments.index("IT1*2*1*EA*200")
    assert segments[second:second + 5] == ["IT1*2*1*EA*200", "PID*F****Freight", "REF*ZZ*6200*GL ACCOUNT",
                                           "REF*DP*OPS", "REF*LU*EAST"]
    assert segments[second + 5].startswith("TDS*") and not any("*VP*" in s for s in segments)


def test_invoic_lines_carry_the_gl_account_and_dimensions_as_rff_in_the_lin_group(tmp_path):
    data, _ = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_edifact_invoic.yaml"), [INTACCT_BILL], tmp_path)

    segments = data.decode("latin-1").replace("\n", "").split("'")
    first = segments.index("LIN+1")
    assert segments[first:first + 11] == [
        "LIN+1", "IMD+F++:::Widgets, blue", "QTY+47:1:EA", "MOA+203:125.00", "PRI+AAA:125", "RFF+ADE:6100",
        "RFF+ZZZ:SAL::DEPARTMENT", "RFF+ZZZ:HQ::LOCATION", "RFF+ZZZ:WHOLESALE::CLASS", "RFF+ZZZ:P-7::PROJECT", "LIN+2"]
    second = segments.index("LIN+2")
    assert segments[second + 5:second + 8] == ["RFF+ADE:6200", "RFF+ZZZ:OPS::DEPARTMENT", "RFF+ZZZ:EAST::LOCATION"]
    assert segments[second + 8] == "UNS+S"


def test_exact_purchase_orders_as_x12_850_exact(tmp_path):
    data, result = run(load_mapping(MAPPINGS / "exact_online_to_sftp/purchase_orders_x12_850.yaml"),
                       [EXACT_PURCHASE_ORDER], tmp_path)

    segments = data.decode().replace("\n", "").split("~")
    start = segments.index("ST*850*0001")
    assert segments[start:start + 17] == [
        "ST*850*0001", "BEG*00*SA*512**20261104", "CUR*BY*EUR", "N1*BY*MLC EXACT BUYER*92*MLCEXACT",
        "N1*SE*Lieferant GmbH*92*20001",
        "PO1*1*10*RL*12.5**BP*ART-100", "PID*F****Verpakkingsfolie", "REF*ZZ*100*COST CENTRE", "REF*ZZ*P1*COST UNIT",
        "PO1*2*16*BX*0.775**BP*ART-200", "PID*F****Kartonnen dozen", "REF*ZZ*200*COST CENTRE",
        "CTT*2", "SE*14*0001", "GE*1*1", "IEA*1*000000001", ""]
    assert result.records == 1


def test_fixed_width_value_that_does_not_fit_is_rejected_with_record_and_field(tmp_path):
    long_id = dict(INTACCT_BILL, VENDORID="V" * 11)

    data, result = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_fixed_width.yaml"), [INTACCT_BILL, long_id],
                       tmp_path)

    assert result.records == 1
    assert result.rejected == [{"record": 2, "key": "BILL-1001", "field": "vendor_id",
                                "error": "'VVVVVVVVVVV' does not fit in 10 characters"}]


def test_bad_records_are_reported_and_good_ones_still_go_through(tmp_path):
    no_vendor = dict(INTACCT_BILL, RECORDID="BILL-2", VENDORNAME="")
    bad_total = dict(INTACCT_BILL, RECORDID="BILL-3", TOTALENTERED="1.00")

    data, result = run(load_mapping(MAPPINGS / "intacct_to_sftp/bills_x12_810.yaml"),
                       [INTACCT_BILL, no_vendor, bad_total, INTACCT_BILL], tmp_path)

    assert result.records == 2 and data.count(b"ST*810*") == 2
    assert (result.control_numbers["st02_count"], result.control_numbers["st02_first"],
            result.control_numbers["st02_last"]) == (2, "0001", "0002")
    assert result.rejected == [
        {"record": 2, "key": "BILL-2", "field": "parties[1].name", "error": "is required"},
        {"record": 3, "key": "BILL-3", "field": "total", "error": "total 1.00 does not equal the sum of the lines 325.00"},
    ]
    assert x12_envelope_errors(data) == []


def test_control_numbers_rise_per_run_and_repeat_for_the_same_run(tmp_path):
    mapping = load_mapping(MAPPINGS / "intacct_to_sftp/bills_x12_810.yaml")

    first, r1 = run(mapping, [INTACCT_BILL], tmp_path, "run-1")
    second, r2 = run(mapping, [INTACCT_BILL], tmp_path, "run-2")
    again, r3 = run(mapping, [INTACCT_BILL], tmp_path, "run-1")

    assert (r1.control_numbers["isa13"], r2.control_numbers["isa13"]) == ("000000001", "000000002")
    assert again == first and r3.control_numbers == r1.control_numbers
    assert second != first


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partner.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("format: x12\ndocument: '810'\nx12:\n  sender: {id: A}\n  receiver: {id: B}\nfields:\n  number: {pth: X}\n",
     "partner.yaml:7: unknown key 'pth' in fields.number"),
    ("format: xml\n", "partner.yaml:1: format must be one of"),
    ("format: x12\ndocument: '999'\n", "partner.yaml:2: document for x12 must be one of"),
    ("format: x12\ndocument: '810'\nfields: {}\nx12:\n  sender: {id: A}\n", "partner.yaml:4: x12.receiver needs an 'id'"),
    ("format: csv\ncolumns:\n  - {name: a, path: A, type: money}\n", "partner.yaml:3: columns[0] (a): type must be one of"),
    ("format: csv\ncolumns:\n  - {path: A}\n", "partner.yaml:3: columns[0] needs a 'name'"),
    ("format: csv\ncolumns:\n  - {name: a, path: A}\n  - {name: b, path: 'A..B'}\n", "partner.yaml:4: columns[1] (b): path"),
    ("format: csv\ncolumns: [{name: a, path: A}]\nformat: x12\n", "partner.yaml:3: duplicate key 'format'"),
    ("format: csv\ncolumns: [\n", "partner.yaml:3: not valid YAML"),
    ("format: fixed_width\nfixed_width:\n  detail:\n    columns:\n      - {name: a, start: 1}\n",
     "partner.yaml:5: fixed_width.detail.columns[0] needs 'width'"),
])
def test_mapping_mistakes_name_file_line_and_expectation(tmp_path, text, message):
    with pytest.raises(MappingError) as excinfo:
        load_mapping(_write(tmp_path, text))

    assert str(excinfo.value).split("/")[-1].startswith(message)


@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch /tmp/mlc-pwned']",
    "!!python/name:os.system",
    "!!python/object/new:subprocess.Popen [['touch', '/tmp/mlc-pwned']]",
])
def test_mappings_cannot_execute_code(tmp_path, payload):
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(_write(tmp_path, f"format: csv\ncolumns: [{{name: a, path: A}}]\ndescription: {payload}\n"))
    assert not Path("/tmp/mlc-pwned").exists()


def test_lookup_without_entry_or_default_rejects_the_record(tmp_path):
    mapping = copy.deepcopy(load_mapping(MAPPINGS / "intacct_to_sftp/vendors_csv.yaml"))
    del mapping["columns"][2]["lookup_default"]

    _data, result = run(mapping, [dict(SOURCES["intacct_to_sftp/vendors_csv.yaml"], STATUS="archived")], tmp_path)

    assert result.rejected == [{"record": 1, "key": "V100", "field": "status",
                                "error": "'archived' has no entry in the lookup table"}]


@pytest.mark.parametrize("spec, record, expected", [
    ({"const": "RE"}, {}, "RE"),
    ({"const": 7}, {}, "7"),
    ({"path": "A"}, {"A": 12}, "12"),
    ({"path": "A"}, {"A": ""}, None),
    ({"path": "A", "default": "X"}, {"A": ""}, "X"),
    ({"path": "A", "type": "amount"}, {"A": "120.00"}, "120.00"),
    ({"path": "A", "type": "amount"}, {"A": "120.5"}, "120.50"),
    ({"path": "A", "type": "amount"}, {"A": "-0.005"}, "-0.01"),
    ({"path": "A", "type": "amount"}, {"A": 3}, "3.00"),
    ({"path": "A", "type": "date", "format": "%Y%m%d"}, {"A": "2026-11-02T10:00:00"}, "20261102"),
    ({"path": "A.B"}, {"A": {"B": "deep"}}, "deep"),
])
def test_field_specs_resolve_to_exact_values(spec, record, expected):
    from mlc.formats.plan import compile_spec

    assert compile_spec(spec, "f")(record, 1) == expected


def test_a_required_plain_field_that_is_missing_names_record_and_field():
    from mlc.formats.errors import RenderError
    from mlc.formats.plan import compile_spec

    with pytest.raises(RenderError) as err:
        compile_spec({"path": "VENDORID", "required": True}, "parties[1].id")({"VENDORID": ""}, 4)
    assert (err.value.record, err.value.field, str(err.value).endswith("is required")) == (4, "parties[1].id", True)


def test_exact_invoices_carry_vat_on_top_of_the_lines(tmp_path):
    data, _ = run(load_mapping(MAPPINGS / "exact_online_to_sftp/purchase_invoices_x12_810.yaml"),
                  [SOURCES["exact_online_to_sftp/purchase_invoices_x12_810.yaml"]], tmp_path)
    segments = data.decode().split("~\n")
    assert "TDS*29282" in segments and "TXI*VA*50.82" in segments
    edi, _ = run(load_mapping(MAPPINGS / "exact_online_to_sftp/purchase_invoices_edifact_invoic.yaml"),
                 [SOURCES["exact_online_to_sftp/purchase_invoices_edifact_invoic.yaml"]], tmp_path)
    assert b"MOA+77:292.82'" in edi and b"MOA+79:242.00'" in edi and b"TAX+7+VAT'MOA+124:50.82'" in edi.replace(b"\n", b"")
    wrong = dict(SOURCES["exact_online_to_sftp/purchase_invoices_x12_810.yaml"], AmountFC="242.00")
    _, result = run(load_mapping(MAPPINGS / "exact_online_to_sftp/purchase_invoices_x12_810.yaml"), [wrong], tmp_path)
    assert result.rejected[0]["error"] == "total 242.00 does not equal the sum of the lines 242.00 plus tax 50.82"


def test_records_is_changes_or_all():
    from mlc.formats.errors import MappingError
    from mlc.formats.mapping import check_mapping

    import yaml

    mapping = yaml.safe_load((MAPPINGS / "intacct_to_sftp/gl_accounts_csv.yaml").read_text())
    assert mapping["records"] == "all"
    check_mapping(mapping)
    with pytest.raises(MappingError, match="records must be 'changes'"):
        check_mapping({**mapping, "records": "some"})


SHIPPED = sorted(str(p.relative_to(MAPPINGS)) for p in MAPPINGS.rglob("*.yaml") if not p.name.endswith("_feed.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_mapping_renders_its_samples_into_a_file_both_validators_accept(name, tmp_path):
    mapping = load_mapping(MAPPINGS / name)
    samples = samples_path(mapping)
    assert samples is not None and samples.is_file(), f"{name} names no sample records"
    records = [json.loads(line) for line in samples.read_text().splitlines()]

    data, result = run(mapping, records, tmp_path)

    assert result.rejected == [] and result.records == len(records) >= 2
    assert_validators_accept(mapping, data, len(records))


def test_the_formula_guard_neutralises_every_cell_a_spreadsheet_would_run_and_only_those():
    import io

    from mlc.formats.csvfile import CsvOptions, write_csv

    rows = [("=SUM(A1)", "ok", None), ("a", "=1+1", "@cmd"), ("b", "c", "\tx"), ("-12.50", "+1", "a=b"),
            ("-x", 7, "+cmd"), ("d\x00=e", "f", "g")]
    out = io.BytesIO()
    write_csv(out, ["one", "two", "three"], rows, CsvOptions(formula_guard=True, line_ending="lf"))

    assert out.getvalue().decode().splitlines()[1:] == [
        "'=SUM(A1),ok,", "a,'=1+1,'@cmd", "b,c,'\tx", "-12.50,+1,a=b", "'-x,7,'+cmd", "d\x00=e,f,g"]


def test_a_fixed_width_record_refused_halfway_leaves_no_line_behind_for_the_records_after_it(tmp_path):
    import sys

    sys.path.insert(0, str(MAPPINGS.parents[1] / "bench"))
    from formats_bench import bills

    mapping = load_mapping(MAPPINGS / "intacct_to_sftp/bills_lines_fixed_width.yaml")
    good = list(bills(300))
    mixed = []
    for n, bill in enumerate(good):
        mixed.append(bill)
        if n % 3 == 0:  # its first line renders, its second does not fit: the record goes whole or not at all
            lines = [dict(line) for line in bill["APBILLITEMS"]["APBILLITEM"]]
            lines[1]["TRX_AMOUNT"] = "9" * 14
            mixed.append(dict(bill, RECORDID=f"BAD-{n}", APBILLITEMS={"APBILLITEM": lines}))

    expected, _ = run(mapping, good, tmp_path)
    data, result = run(mapping, mixed, tmp_path)

    assert data == expected and result.records == 300 and len(result.rejected) == 100
    assert {r["field"] for r in result.rejected} == {"amount"}
