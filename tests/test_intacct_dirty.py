"""Dirty answers from Intacct, as real companies produce them: control characters sent as references and raw
bytes, pages that come back empty, bodies cut mid-way, answers that do not parse, hostile prologs. Against the
sandbox gateway over real HTTP, and the protocol functions on their own."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest

from mlc.hooks.intacct import IntacctHook
from mlc.hooks.intacct_clean import MARK, AnswerCleaner, allowed, take_marks
from mlc.hooks.intacct_reads import page_problem
from mlc.hooks.intacct_xml import IntacctMalformedAnswer, IntacctProtocolError, Result, parse_response
from sandbox.intacct import IntacctSandbox, gateway_text
from sandbox.intacct_data import DIRTY_VENDORS, Seed

ANCHOR = datetime(2026, 11, 16)
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@pytest.fixture
def gateway(use_connections: Callable) -> Iterator[IntacctSandbox]:
    IntacctHook.forget_sessions()
    with IntacctSandbox(seed=Seed(bills=120, anchor=ANCHOR), hold_seconds=2) as server:
        use_connections(server.connections())
        yield server
    IntacctHook.forget_sessions()


# -- control characters ------------------------------------------------------------------------------
def test_the_sandbox_sends_control_characters_as_intacct_does():
    assert gateway_text("Esc\x1bape & Co") == "Esc&#27;ape &amp; Co"
    assert gateway_text("Unit\x1fSep") == "Unit&#x1F;Sep"
    assert gateway_text("Bell\x07Raw") == "Bell\x07Raw"  # the raw byte


def test_every_vendor_arrives_with_forbidden_characters_taken_out_and_named(gateway):
    h = IntacctHook()

    vendors = {v["VENDORID"]: v for v in h.iter_changed("VENDOR")}

    assert len(vendors) == gateway.store.count("VENDOR")  # nothing lost to "malformed XML"
    dirty = {f"VD{n:03d}": name for n, name in enumerate(DIRTY_VENDORS, 1)}
    for vendor_id, name in dirty.items():
        assert vendors[vendor_id]["NAME"] == FORBIDDEN.sub("", name)  # the rest of the record is kept
    assert vendors["VD004"]["NAME"].startswith("\u6771\u4eac") and "\U0001f369" in vendors["VD005"]["NAME"]
    cleaned = {(c["object"], c["key"]): c["fields"] for c in h.cleaned}
    expected = {("VENDOR", vendors[vid]["RECORDNO"]) for vid, name in dirty.items() if FORBIDDEN.search(name)}
    assert set(cleaned) == expected and len(expected) == 4
    assert all(fields == ["NAME", "DISPLAYCONTACT.PRINTAS"] for fields in cleaned.values())


def test_bills_of_dirty_vendors_stream_with_their_lines(gateway):
    bills = list(IntacctHook().iter_bills())

    assert len(bills) == 120 and all(b["APBILLITEMS"]["APBILLITEM"] for b in bills)
    assert not [b for b in bills if FORBIDDEN.search(b["VENDORNAME"])]
    assert {b["VENDORID"] for b in bills if b["VENDORID"].startswith("VD")} == {f"VD{n:03d}" for n in range(1, 11)}


# -- pages and bodies --------------------------------------------------------------------------------
def test_an_empty_page_while_records_remain_is_asked_for_again_never_taken_as_the_end(gateway, caplog):
    gateway.inject("empty_page", times=1)

    bills = list(IntacctHook().iter_bills())

    assert gateway.faults.fired == ["empty_page"]
    assert len(bills) == 120
    assert "an empty page while numremaining is" in caplog.text


def test_a_page_that_stays_empty_fails_the_read_instead_of_ending_it(gateway):
    gateway.inject("empty_page", times=None)

    with pytest.raises(IntacctProtocolError, match="an empty page while numremaining is .*take a short page"):
        list(IntacctHook().iter_query("VENDOR"))
    assert gateway.faults.fired.count("empty_page") == 6  # the policy's attempts


def test_a_body_cut_mid_way_is_read_again(gateway):
    h = IntacctHook()
    list(h.iter_query("GLACCOUNT"))  # the session is open: the cut hits the read
    gateway.inject("cut_body", times=1)

    bills = list(h.iter_bills())

    assert gateway.faults.fired == ["cut_body"] and len(bills) == 120


def test_a_write_whose_answer_is_cut_is_read_back_and_created_once(gateway):
    h = IntacctHook()
    list(h.iter_query("GLACCOUNT"))
    gateway.inject("cut_body", times=1, body_contains="<create>")
    bill = {"VENDORID": "V00001", "RECORDID": "CUT-1", "WHENCREATED": "11/02/2026", "WHENDUE": "12/02/2026",
            "APBILLITEMS": {"APBILLITEM": [{"ACCOUNTNO": "6100", "TRX_AMOUNT": "10.00"}]}}

    (outcome,) = h.create_bills([bill])

    assert gateway.faults.fired == ["cut_body"]
    assert outcome.status in ("recovered", "created")
    assert gateway.store.select('SELECT COUNT(*) FROM "APBILL" WHERE "RECORDID" = ?', ["CUT-1"])[0][0] == 1


def test_an_answer_that_does_not_parse_fails_at_once_naming_the_request_and_the_place(gateway):
    h = IntacctHook()
    list(h.iter_query("GLACCOUNT"))
    sent = h.requests_sent
    gateway.inject("bad_markup", times=None)

    with pytest.raises(IntacctMalformedAnswer) as err:
        list(h.iter_query("VENDOR"))

    assert h.requests_sent == sent + 1, "a page that does not parse comes back the same: not retried"
    message = str(err.value)
    assert "query VENDOR page at offset 0" in message and "line 1 column" in message and "near byte" in message
    assert not err.value.retryable


# -- the protocol on its own -------------------------------------------------------------------------
ANSWER = ('<?xml version="1.0" encoding="UTF-8"?><response><control><status>success</status></control><operation>'
          '<authentication><status>success</status></authentication><result><status>success</status>'
          '<function>query</function><controlid>q</controlid><data count="2" totalcount="2" numremaining="0">'
          '<VENDOR><RECORDNO>1</RECORDNO><NAME>{one}</NAME></VENDOR>'
          '<VENDOR><RECORDNO>2</RECORDNO><NAME>{two}</NAME></VENDOR></data></result></operation></response>')


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_forbidden_characters_are_taken_out_whatever_the_chunk_boundaries(size):
    body = ANSWER.format(one="A&#27;B&#0;C&#x1F;D\x07E&#233;F&#x10000;G", two="\u6771\ufffeX").encode()
    chunks = [body[i:i + size] for i in range(0, len(body), size)]

    (result,) = parse_response(chunks, record_tags=("VENDOR",)).results

    assert [r["NAME"] for r in result.records] == ["ABCDE\u00e9F\U00010000G", "\u6771X"]
    assert result.cleaned == [{"object": "VENDOR", "key": "1", "fields": ["NAME"]},
                              {"object": "VENDOR", "key": "2", "fields": ["NAME"]}]


def test_the_cleaner_keeps_what_xml_allows():
    cleaner = AnswerCleaner()
    text = b"&#9;&#10;&#13;&#32;&#xD7FF;&#xE000;&#xFFFD;&#x10FFFF; &amp; \xc3\xa9 \xe6\x9d\xb1"
    assert cleaner.feed(text) + cleaner.close() == text and cleaner.replaced == 0
    dirty = b"&#1;&#xD800;&#xFFFF;&#1114112;\x00\x1f\xed\xa0\x80\xef\xbf\xbe"
    assert cleaner.feed(dirty) + cleaner.close() == b"&#x10FFFD;" * 8 and cleaner.replaced == 8
    assert [allowed(c) for c in (0x9, 0x1F, 0xD800, 0xFFFE, 0x10FFFF, 0x110000)] == [True, False, False, False,
                                                                                       True, False]


def test_the_cleaners_quick_look_never_lets_a_forbidden_byte_through():
    import random

    from mlc.hooks import intacct_clean

    pieces = [b"a", b" ", b"&#1;", b"&#65;", b"\x00", b"\x09", b"\x1f", b"\xed\xa0\x80", b"\xed\x9f\xbf",
              b"\xef\xbf\xbe", b"\xef\xbf\xbd", b"\xc3\xa9", b"&amp;"]
    rng = random.Random(21)
    for _ in range(2000):
        data = b"".join(rng.choices(pieces, k=rng.randint(1, 6)))
        cleaner = AnswerCleaner()
        assert cleaner.feed(data) + cleaner.close() == intacct_clean._FORBIDDEN.sub(AnswerCleaner()._replace, data)
    assert not intacct_clean._suspect(b"<NAME>Acme \xc3\xa9 &amp; Co</NAME>\n\t")


def test_take_marks_names_nested_fields():
    record = {"NAME": f"A{MARK}B", "APBILLITEMS": {"APBILLITEM": [{"MEMO": "ok"}, {"MEMO": f"{MARK}x"}]}}
    assert take_marks(record) == ["NAME", "APBILLITEMS.APBILLITEM.1.MEMO"]
    assert record == {"NAME": "AB", "APBILLITEMS": {"APBILLITEM": [{"MEMO": "ok"}, {"MEMO": "x"}]}}


@pytest.mark.parametrize("prolog", [
    '<?xml version="1.0"?><!DOCTYPE response [<!ENTITY x "y">]>',
    '<?xml version="1.0"?><!-- <response> looks like the root --><!DOCTYPE response SYSTEM "file:///etc/passwd">',
    '<?xml version="1.0"?>\n<?pi here?>\n<!-- one -->\n<!-- two --><!doctype response>',
    '\ufeff<!ENTITY x "y">',
])
@pytest.mark.parametrize("size", [1, 5, 4096])
def test_a_doctype_anywhere_in_the_prolog_is_refused(prolog, size):
    body = (prolog + ANSWER.split("?>", 1)[1].format(one="a", two="b")).encode()
    with pytest.raises(IntacctProtocolError, match="DOCTYPE"):
        parse_response([body[i:i + size] for i in range(0, len(body), size)])


def test_a_prolog_that_never_ends_is_refused():
    with pytest.raises(IntacctProtocolError, match="prolog is longer"):
        parse_response([b"<?xml version='1.0'?><!--" + b"x" * 70_000])


@pytest.mark.parametrize("data, records, offset, problem", [
    ({"count": "2", "totalcount": "2", "numremaining": "0"}, 2, 0, None),
    ({"count": "0", "totalcount": "5", "numremaining": "5"}, 0, 0, "an empty page while numremaining is 5"),
    ({"count": "3", "totalcount": "5", "numremaining": "0"}, 2, 0, "2 record(s) where count says 3"),
    ({"count": "2", "totalcount": "9", "numremaining": "3"}, 2, 2, "offset 2 + 2 record(s) + 3 remaining is not the "
                                                                   "totalcount 9"),
    ({}, 0, 0, None),  # readByQuery-style answers without counts are not judged here
])
def test_a_page_is_judged_by_its_own_counts(data, records, offset, problem):
    result = Result("success", "query", "q", records=[{}] * records, data=data)
    assert page_problem(result, offset) == problem


def test_a_window_starting_in_the_repeated_hour_reads_the_whole_hour():
    """US Eastern falls back at 06:00 UTC on Nov 1 2026 (02:00 EDT -> 01:00 EST): 01:00-02:00 local happens twice."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from mlc.hooks.intacct_reads import IntacctReads

    class Eastern(IntacctReads):
        tz = ZoneInfo("America/New_York")

    reads = Eastern()
    just_after = datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)  # 01:30 EST, the second 01:30 of the night
    assert reads.before_fold(just_after) == just_after - timedelta(hours=1)
    assert reads.format_when(reads.before_fold(just_after)) == "11/01/2026 01:30:00"  # EDT: the first 01:30
    ordinary = datetime(2026, 11, 3, 6, 30, tzinfo=timezone.utc)
    assert reads.before_fold(ordinary) == ordinary
    assert Eastern().before_fold(datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)).hour == 7  # spring forward: no fold
