"""997 generation and reading, over our own files and the public samples."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.errors import ParseError
from mlc.formats.x12_ack import AckEnvelope, build_997, read_acks
from mlc.formats.x12_check import check_interchange
from tests.edi.records import INVOICE, SHIP_NOTICE
from tests.edi.validators import bots_errors, pyx12_validate_997, x12_envelope_errors
from tests.test_x12 import render

SAMPLES = Path(__file__).resolve().parent / "edi" / "samples"
ENVELOPE = AckEnvelope(control_number=5, group_control_number=7, timestamp=datetime(2024, 1, 16, 9, 30))


def assert_valid_997(ack: bytes) -> None:
    assert x12_envelope_errors(ack) == []
    assert bots_errors(ack, "x12") == []
    if ack[84:89] == b"00401":
        ok, report = pyx12_validate_997(ack)
        assert ok, report


def test_accepting_997_for_our_own_810():
    ack = build_997(render("810", [INVOICE, INVOICE]), ENVELOPE)

    assert ack.decode().replace("\n", "")[106:] == (
        "GS*FA*RECEIVERID*SENDERID*20240116*0930*7*X*004010~ST*997*0001~AK1*IN*1~AK2*810*0001~AK5*A~"
        "AK2*810*0002~AK5*A~AK9*A*2*2*2~SE*8*0001~GE*1*7~IEA*1*000000005~")
    assert ack.decode()[:106] == ("ISA*00*          *00*          *ZZ*RECEIVERID     *ZZ*SENDERID       "
                                  "*240116*0930*U*00401*000000005*0*P*>~")
    assert_valid_997(ack)


def test_rejecting_997_names_segment_element_and_codes():
    data = render("810", [INVOICE]).replace(b"BIG*20240115*", b"BIG*20241315*").replace(b"TDS*32500", b"TDS*325.00")

    ack = build_997(data, ENVELOPE)

    body = ack.decode().replace("\n", "")
    assert "AK2*810*0001~AK3*BIG*2**8~AK4*1*373*8*20241315~AK3*TDS*12**8~AK4*1*610*6*325.00~AK5*R*5~AK9*R*1*1*0~" in body
    assert_valid_997(ack)


@pytest.mark.parametrize(("mutation", "set_codes", "group"), [
    ((b"SE*14*0001", b"SE*13*0001"), ["4"], "R*1*1*0"),
    ((b"SE*14*0001", b"SE*14*0002"), ["3"], "R*1*1*0"),
    ((b"ST*810*0001", b"ST*837*0001"), ["1"], "R*1*1*0"),
    ((b"GE*1*1", b"GE*2*1"), [], "R*2*1*0*5"),
    ((b"GE*1*1", b"GE*1*9"), [], "R*1*1*0*4"),
])
def test_envelope_errors_get_their_x12_codes(mutation, set_codes, group):
    data = render("810", [INVOICE]).replace(*mutation)

    body = build_997(data, ENVELOPE).decode().replace("\n", "")

    assert f"AK5*{'R' if set_codes else 'A'}{''.join('*' + c for c in set_codes)}~" in body
    assert f"AK9*{group}~" in body


def test_missing_mandatory_segment_is_ak3_code_3():
    data = render("810", [INVOICE]).replace(b"TDS*32500~\n", b"").replace(b"SE*14*0001", b"SE*13*0001")

    body = build_997(data, ENVELOPE).decode().replace("\n", "")

    assert "AK3*TDS*13**3~AK5*R*5~" in body


@pytest.mark.parametrize(("name", "groups"), [
    ("staedi_x12_810_4010_two_sets.edi", [("IN", "A", ["A", "A"])]),
    ("staedi_x12_810_850_two_groups.edi", [("IN", "A", ["A", "A"]), ("PO", "R", ["A"])]),
])
def test_997_for_public_samples(name, groups):
    data = (SAMPLES / name).read_bytes()

    ack = build_997(data, ENVELOPE)
    report = read_acks(ack)

    assert [(g["functional_id"], g["status"], [s["status"] for s in g["sets"]]) for g in report["group_acks"]] == groups
    assert_valid_997(ack)


@pytest.mark.parametrize("name", ["staedi_x12_997_5010_reject_837.edi", "staedi_x12_997_5010_INVALID_codes.edi",
                                  "staedi_x12_997_INVALID_empty.edi", "staedi_x12_ta1_5010.edi"])
def test_997s_and_ta1s_are_never_acknowledged(name):
    assert build_997((SAMPLES / name).read_bytes(), ENVELOPE) is None


@pytest.mark.parametrize(("name", "valid"), [
    ("staedi_x12_810_4010_two_sets.edi", True),
    ("staedi_x12_997_5010_reject_837.edi", True),
    ("staedi_x12_810_850_two_groups.edi", False),  # the 850 group is version 003010: not supported
    ("staedi_x12_997_5010_INVALID_codes.edi", False),
    ("staedi_x12_997_5010_INVALID_min.edi", False),
    ("staedi_x12_997_INVALID_empty.edi", False),
    ("staedi_x12_ta1_5010.edi", False),
])
def test_checker_verdicts_on_public_samples(name, valid):
    assert check_interchange((SAMPLES / name).read_bytes()).valid is valid


def test_reading_a_partner_rejection():
    report = read_acks((SAMPLES / "staedi_x12_997_5010_reject_837.edi").read_bytes())

    group = report["group_acks"][0]
    assert (group["functional_id"], group["control_number"], group["status"]) == ("HC", "000001", "R")
    assert (group["sets_included"], group["sets_received"], group["sets_accepted"]) == ("1", "1", "0")
    (txn,) = group["sets"]
    assert (txn["transaction_set"], txn["control_number"], txn["status"]) == ("837", "0021", "R")
    assert txn["errors"] == [{"code": "5", "text": "one or more segments in error"}]
    assert txn["segment_errors"] == [{
        "segment": "NM1", "position": "8", "loop": None, "code": "8", "text": "segment has data element errors",
        "elements": [{"position": "8", "reference": "66", "code": "7", "text": "invalid code value", "data": "MI"}]}]


def test_reading_a_ta1():
    report = read_acks((SAMPLES / "staedi_x12_ta1_5010.edi").read_bytes())

    assert report["interchange_acks"] == [{"control_number": "000000050", "date": "200229", "time": "1200",
                                           "status": "A", "note_code": "000"}]


def test_reading_a_997_without_ak1_or_ak9_is_an_error():
    with pytest.raises(ParseError, match="no 997"):
        read_acks((SAMPLES / "staedi_x12_997_INVALID_empty.edi").read_bytes())


def test_round_trip_our_rejection_through_the_reader():
    data = render("810", [INVOICE]).replace(b"BIG*20240115*", b"BIG*20241315*")

    report = read_acks(build_997(data, ENVELOPE))

    (group,) = report["group_acks"]
    assert group["status"] == "R" and group["status_text"] == "rejected"
    assert group["sets"][0]["segment_errors"] == [{
        "segment": "BIG", "position": "2", "loop": None, "code": "8", "text": "segment has data element errors",
        "elements": [{"position": "1", "reference": "373", "code": "8", "text": "invalid date", "data": "20241315"}]}]


@pytest.mark.parametrize("garbage", [b"", b"hello", b"ISA*00*short~", b"GS*IN*A*B~"])
def test_unreadable_input_is_a_parse_error(garbage):
    with pytest.raises(ParseError):
        check_interchange(garbage)


def test_an_hl_whose_parent_does_not_exist_is_rejected():
    data = render("856", [SHIP_NOTICE]).replace(b"HL*3*2*I*0~", b"HL*3*5*I*0~")

    body = build_997(data, ENVELOPE).decode().replace("\n", "")

    assert "AK2*856*0001~AK3*HL*8**8~AK4*2*734*7*5~AK5*R*5~AK9*R*1*1*0~" in body
    assert_valid_997(build_997(data, ENVELOPE))


def test_hl_ids_out_of_sequence_are_rejected():
    data = render("856", [SHIP_NOTICE]).replace(b"HL*4*2*I*0~", b"HL*7*2*I*0~")

    assert "AK3*HL*11**8~AK4*1*628*7*7~" in build_997(data, ENVELOPE).decode().replace("\n", "")


def test_an_empty_trailing_element_is_flagged():
    data = render("856", [SHIP_NOTICE]).replace(b"PRF*PO-555~", b"PRF*PO-555*~")

    body = build_997(data, ENVELOPE).decode().replace("\n", "")

    assert "AK3*PRF*7**8~AK4*2**3~AK5*R*5~" in body
    assert_valid_997(build_997(data, ENVELOPE))
    assert not check_interchange(data).valid


@pytest.mark.parametrize(("mutation", "note"), [
    ((b"IEA*1*000000001", b"IEA*1*000000002"), "001"),
    ((b"IEA*1*000000001", b"IEA*2*000000001"), "021"),
    ((b"IEA*1*000000001~", b""), "023"),
])
def test_a_broken_interchange_envelope_gets_a_rejecting_ta1(mutation, note):
    data = render("810", [INVOICE]).replace(*mutation)

    ack = build_997(data, ENVELOPE)

    assert ack.decode().replace("\n", "")[106:] == f"TA1*000000001*240115*1200*R*{note}~IEA*0*000000005~"
    assert x12_envelope_errors(ack) == []
    assert read_acks(ack)["interchange_acks"][0] | {"problems": []} == {
        "control_number": "000000001", "date": "240115", "time": "1200", "status": "R", "note_code": note,
        "problems": []}


def test_a_byte_order_mark_before_isa_is_skipped():
    ours = build_997(render("810", [INVOICE]), ENVELOPE)

    assert build_997(b"\xef\xbb\xbf" + render("810", [INVOICE]), ENVELOPE) == ours
    report = read_acks(b"\xef\xbb\xbf" + ours)
    assert report["group_acks"][0]["status"] == "A" and report["problems"] == []
    assert (report["group_acks"][0]["sender_group"], report["group_acks"][0]["receiver_group"]) == (
        "RECEIVERID", "SENDERID")


@pytest.mark.parametrize(("mutation", "problem"), [
    ((b"AK5*A~", b"AK5*Q~"), "AK501 'Q' is not a transaction set acknowledgment code (717)"),
    ((b"AK9*A*1*1*1", b"AK9*Z*1*1*1"), "AK901 'Z' is not a functional group acknowledge code (715)"),
])
def test_codes_outside_the_code_lists_are_reported_invalid(mutation, problem):
    ack = build_997(render("810", [INVOICE]), ENVELOPE).replace(*mutation)

    problems = read_acks(ack)["problems"]

    assert len(problems) == 1 and problems[0].endswith(problem)


def test_control_numbers_used_twice_are_found_in_runs_and_out_of_them():
    from mlc.formats.x12_check import SeenNumbers

    seen = SeenNumbers()
    values = ["0001", "0002", "0003", "7", "0002", "7", "1", "0004", "00004"]
    assert [seen.seen(v) for v in values] == [False, False, False, False, True, True, False, False, False]
    run = SeenNumbers()
    assert not any(run.seen(f"{i:04d}") for i in range(1, 20001)) and run.others == set()  # 9999 -> 10000 too
    assert run.seen("0500") and run.seen("10000") and not run.seen("20001")


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.edi") if "x12" in p.name))
def test_a_file_read_in_chunks_gives_the_same_997_as_its_bytes(name, monkeypatch):
    import io

    import mlc.formats.x12 as x12

    monkeypatch.setattr(x12, "CHUNK", 5)  # the ISA, every segment and terminator split somewhere
    data = (SAMPLES / name).read_bytes()
    try:
        whole = build_997(data, ENVELOPE)
    except ParseError as exc:
        with pytest.raises(ParseError, match=re.escape(exc.reason)):
            build_997(io.BytesIO(data), ENVELOPE)
        return
    assert build_997(io.BytesIO(data), ENVELOPE) == whole
    assert check_interchange(io.BytesIO(data)).valid is check_interchange(data).valid
