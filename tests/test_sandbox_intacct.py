"""The sandbox gateway at the wire: hand-written XML requests, asserted answers (reference/intacct.md §10)."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests
from lxml import etree

from sandbox.intacct import COMPANY_ID, SENDER_ID, SENDER_PASSWORD, USER_ID, USER_PASSWORD, IntacctSandbox
from sandbox.intacct_data import DIRTY_VENDORS, IntacctStore, Seed

LOGIN = (f"<login><userid>{USER_ID}</userid><companyid>{COMPANY_ID}</companyid>"
         f"<password>{USER_PASSWORD}</password></login>")


def envelope(content: str, auth: str = LOGIN, *, sender_password: str = SENDER_PASSWORD, unique: str = "false",
             transaction: str = "false") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><request><control><senderid>{SENDER_ID}</senderid>'
            f"<password>{sender_password}</password><controlid>req-1</controlid><uniqueid>{unique}</uniqueid>"
            f'<dtdversion>3.0</dtdversion></control><operation transaction="{transaction}"><authentication>{auth}'
            f"</authentication><content>{content}</content></operation></request>").encode()


@pytest.fixture(scope="module")
def gateway():
    with IntacctSandbox(seed=Seed(bills=50, anchor=datetime(2026, 11, 16))) as server:
        yield server


def post(gateway: IntacctSandbox, body: bytes, path: str = "/ia/xml/xmlgw.phtml") -> tuple[int, etree._Element]:
    answer = requests.post(f"{gateway.url}{path}", data=body, headers={"Content-Type": "application/xml"}, timeout=10)
    return answer.status_code, etree.fromstring(answer.content)


def session(gateway: IntacctSandbox) -> str:
    _, root = post(gateway, envelope('<function controlid="s"><getAPISession/></function>'))
    return f"<sessionid>{root.findtext('operation/result/data/api/sessionid')}</sessionid>"


def test_get_is_refused(gateway):
    assert requests.get(f"{gateway.url}/ia/xml/xmlgw.phtml", timeout=5).status_code == 405


def test_malformed_xml_is_a_control_failure_with_http_200(gateway):
    status, root = post(gateway, b"<request><control>")
    assert status == 200
    assert root.findtext("control/status") == "failure"
    assert root.findtext("errormessage/error/errorno") == "XL03000003"
    assert root.find("operation") is None


def test_wrong_sender_and_wrong_user_fail_at_their_levels(gateway):
    _, root = post(gateway, envelope('<function controlid="s"><getAPISession/></function>', sender_password="x"))
    assert (root.findtext("control/status"), root.findtext("errormessage/error/errorno")) == ("failure", "XL03000006")
    _, root = post(gateway, envelope('<function controlid="s"><getAPISession/></function>',
                                     LOGIN.replace(USER_PASSWORD, "nope")))
    assert root.findtext("control/status") == "success"
    assert root.findtext("operation/authentication/status") == "failure"
    assert root.find("operation/result") is None
    assert root.findtext("operation/errormessage/error/description") == "Sign-in information is incorrect"


def test_get_api_session_answers_session_endpoint_and_timeout(gateway):
    _, root = post(gateway, envelope('<function controlid="s"><getAPISession/></function>'))
    api = root.find("operation/result/data/api")
    assert api.findtext("sessionid") and api.findtext("endpoint").endswith("/pod2/ia/xml/xmlgw.phtml")
    assert datetime.fromisoformat(root.findtext("operation/authentication/sessiontimeout")).tzinfo is not None
    _, root = post(gateway, envelope('<function controlid="s"><getAPISession/></function>'
                                     '<function controlid="q"><read><object>CLASS</object><keys>1</keys></read></function>'))
    assert root.findtext("errormessage/error/description").endswith("getAPISession must be alone in its request")


def test_query_pages_with_offset_and_counts(gateway):
    auth = session(gateway)
    body = ('<function controlid="q"><query><object>APBILL</object><select><field>RECORDNO</field></select>'
            '<orderby><order><field>RECORDNO</field><ascending/></order></orderby><pagesize>20</pagesize>'
            '<offset>40</offset></query></function>')
    _, root = post(gateway, envelope(body, auth))
    data = root.find("operation/result/data")
    assert dict(data.attrib) == {"listtype": "APBILL", "totalcount": "50", "offset": "40", "count": "10",
                                 "numremaining": "0"}
    assert [r.findtext("RECORDNO") for r in data] == [str(n) for n in range(41, 51)]


def test_query_refuses_a_page_over_2000_and_an_unknown_object(gateway):
    auth = session(gateway)
    _, root = post(gateway, envelope('<function controlid="q"><query><object>APBILL</object><select><field>RECORDNO'
                                     '</field></select><pagesize>2001</pagesize></query></function>', auth))
    assert root.findtext("operation/result/status") == "failure"
    _, root = post(gateway, envelope('<function controlid="q"><query><object>VENDOR2</object><select><field>RECORDNO'
                                     '</field></select></query></function>', auth))
    assert root.findtext("operation/result/errormessage/error/description") == "Object definition VENDOR2 not found"


def test_read_by_query_uses_codes_lower_case_records_and_result_id(gateway):
    auth = session(gateway)
    _, root = post(gateway, envelope('<function controlid="r"><readByQuery><object>VENDOR</object><fields>VENDORID,'
                                     "STATUS</fields><query>STATUS = 'T' AND VENDORID like 'V0000%'</query>"
                                     "<pagesize>3</pagesize></readByQuery></function>", auth))
    data = root.find("operation/result/data")
    assert data.get("listtype") == "vendor" and data[0].tag == "vendor" and data[0].findtext("STATUS") == "active"
    assert int(data.get("numremaining")) == int(data.get("totalcount")) - 3 and data.get("resultId")
    _, more = post(gateway, envelope(f'<function controlid="m"><readMore><resultId>{data.get("resultId")}</resultId>'
                                     "</readMore></function>", auth))
    assert more.findtext("operation/result/function") == "readMore"
    assert [r.findtext("VENDORID") for r in more.find("operation/result/data")] == ["V00004", "V00005", "V00006"]


def test_duplicate_controlid_with_uniqueid_creates_once(gateway):
    auth = session(gateway)
    create = ('<function controlid="dup-1"><create><APBILL><VENDORID>V00002</VENDORID><RECORDID>WIRE-1</RECORDID>'
              "<WHENCREATED>11/01/2026</WHENCREATED><WHENDUE>12/01/2026</WHENDUE><APBILLITEMS><APBILLITEM>"
              "<ACCOUNTNO>6100</ACCOUNTNO><TRX_AMOUNT>5</TRX_AMOUNT></APBILLITEM></APBILLITEMS></APBILL></create>"
              "</function>")
    _, first = post(gateway, envelope(create, auth, unique="true"))
    _, second = post(gateway, envelope(create, auth, unique="true"))
    assert first.findtext("operation/result/data/apbill/RECORDNO") == second.findtext("operation/result/data/apbill/RECORDNO")
    count = gateway.store.select('SELECT COUNT(*) FROM "APBILL" WHERE "RECORDID" = ?', ["WIRE-1"])[0][0]
    assert count == 1
    _, third = post(gateway, envelope(create, auth, unique="false"))
    assert gateway.store.select('SELECT COUNT(*) FROM "APBILL" WHERE "RECORDID" = ?', ["WIRE-1"])[0][0] == 2


def test_seed_is_deterministic_and_scales():
    first, second = IntacctStore(), IntacctStore()
    first.seed(Seed(bills=200, seed=3))
    second.seed(Seed(bills=200, seed=3))
    dump = 'SELECT * FROM "APBILLITEM" ORDER BY "RECORDNO"'
    assert first.select(dump, []) == second.select(dump, [])
    assert first.count("APBILL") == 200 and first.count("VENDOR") == 10 + len(DIRTY_VENDORS)
    assert 200 <= first.count("APBILLITEM") <= 1000
    # every dirty vendor has bills; without them the plain company is what it was
    assert {r[0] for r in first.select('SELECT DISTINCT "VENDORNAME" FROM "APBILL"', [])} >= set(DIRTY_VENDORS)
    plain = IntacctStore()
    plain.seed(Seed(bills=200, seed=3, dirty=False))
    assert plain.count("VENDOR") == 10
    bills = 'SELECT "RECORDNO", "VENDORID", "TOTALENTERED" FROM "APBILL"'
    plain_bills = {r[0]: tuple(r) for r in plain.select(bills, [])}
    kept = [tuple(r) for r in first.select(bills, []) if not r[1].startswith("VD")]
    assert len(kept) == 200 - 200 // 7 - (1 if 200 % 7 >= 3 else 0)  # every seventh bill is a dirty vendor's
    assert all(plain_bills[row[0]] == row for row in kept)
    # the first dirty vendor's bills are credit memos, the second's start with a zero line
    credit = first.select('SELECT "TOTALENTERED" FROM "APBILL" WHERE "VENDORID" = ?', ["VD001"])
    assert credit and all(total < 0 for (total,) in credit)
    zero = first.select('SELECT MIN(i."AMOUNT") FROM "APBILLITEM" i JOIN "APBILL" b ON b."RECORDNO" = i."RECORDKEY" '
                        'WHERE b."VENDORID" = ? GROUP BY b."RECORDNO"', ["VD002"])
    assert zero and all(amount == 0 for (amount,) in zero)


def test_seed_flushes_in_batches_without_key_clashes():
    store = IntacctStore()
    store.seed(Seed(bills=20_004, dirty=False))  # every fourth bill paid (dirty credit memos are not)
    assert store.count("APBILL") == 20_004 and store.count("APPYMT") == 20_004 // 4
    assert store.count("APPYMTDETAIL") == 20_004 // 4
