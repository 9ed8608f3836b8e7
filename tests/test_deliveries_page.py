"""The deliveries page (plugins/mlc/ui): which rows it shows, how it filters, who may see what, and that what a
partner or a file name holds is shown as text, never run as markup. The api-server and the browser: in
tests/test_deliveries_browser.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from mlc.state.ledgers import AckLedger, DeliveryLedger, InboundLedger, sftp_destination
from mlc.ui import app as page
from mlc.ui.deliveries import Filters, inbound, outbound
from mlc.formats.partner import load_partners

REPO = Path(__file__).resolve().parent.parent
ACME = sftp_destination("sftp_default", "outbound")
NORTHWIND = sftp_destination("sftp_default", "northwind/in")


@pytest.fixture
def state(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("MLC_STATE_URL", url)
    ledger, acks = DeliveryLedger(url), AckLedger(url)
    ledger.record(ACME, "a" * 64, "outbound/MLC_810_20261130_000000007.x12", 1200, "scheduled__2026-11-30T06:00:00+00:00",
                  {"isa13": "000000007", "gs06": "7", "st02_count": 47, "ack_within_hours": 24, "records": 47})
    ledger.record(ACME, "b" * 64, "outbound/vendors_20261130.csv", 300, "scheduled__2026-11-30T06:00:00+00:00",
                  {"records": 5})
    ledger.record(ACME, "c" * 64, "outbound/MLC_810_20261123_000000006.x12", 900, "scheduled__2026-11-23T06:00:00+00:00",
                  {"isa13": "000000006", "ack_within_hours": 24, "records": 3})
    ledger.record(NORTHWIND, "d" * 64, "northwind/in/<img src=x onerror=alert(1)>.txt", 80, "manual__x", {"records": 1})
    acks.answered(ACME, "c" * 64, "rejected", "acks/processed/997_6.x12", "set 0001: 5, IT1@6:8")
    InboundLedger(url).mark("sftp://stampli_sftp/invoices", "e" * 64, "invoices_1130.csv", "done",
                            "scheduled__2026-11-30T05:00:00+00:00", rows=10, posted=8, rejected=2,
                            report="outbound/errors/invoices_1130_errors_eeeeeeee.csv")
    return url


def test_each_file_sent_shows_with_its_partner_run_and_acknowledgment(state):
    now = datetime.now(timezone.utc) + timedelta(days=30)  # the 24 hours of the newest 810 are long gone
    rows = outbound(load_partners(), Filters(), url=state, now=now)

    assert sorted((r["sha256"][0], r["partner"], r["file"].rsplit("/", 1)[-1], r["ack"], r["needs_a_person"])
                  for r in rows) == [
        ("a", "acme", "MLC_810_20261130_000000007.x12", "overdue", True),
        ("b", "acme", "vendors_20261130.csv", "none expected", False),
        ("c", "acme", "MLC_810_20261123_000000006.x12", "rejected", True),
        ("d", "northwind", "<img src=x onerror=alert(1)>.txt", "none expected", False),
    ]
    assert [r["delivered_at"] for r in rows] == sorted((r["delivered_at"] for r in rows), reverse=True)
    first = next(r for r in rows if r["sha256"] == "a" * 64)
    assert (first["dag_id"], first["run"], first["records"], first["control"], first["sets"]) == (
        "intacct_to_sftp__acme", "scheduled__2026-11-30T06:00:00+00:00", 47, "ISA13 000000007 GS06 7", 47)


def test_filters_and_permissions_narrow_the_rows(state):
    partners = load_partners()
    assert {r["partner"] for r in outbound(partners, Filters(partner="acme"), url=state)} == {"acme"}
    assert [r["sha256"][0] for r in outbound(partners, Filters(status="rejected"), url=state)] == ["c"]
    assert outbound(partners, Filters(since="2999-01-01"), url=state) == []
    assert {r["partner"] for r in outbound(partners, Filters(), dag_ids={"intacct_to_sftp__northwind"},
                                           url=state)} == {"northwind"}
    assert [(r["name"], r["posted"], r["rejected"], r["needs_a_person"]) for r in inbound(url=state)] == [
        ("invoices_1130.csv", 8, 2, True)]
    assert inbound(url=state, dag_ids={"intacct_to_sftp__acme"}) == []  # may not read stampli_to_intacct


def mounted() -> TestClient:
    """The page's app mounted at /mlc below a parent app, as the api-server mounts it."""
    from fastapi import FastAPI

    parent = FastAPI()
    parent.mount("/mlc", page.app)
    return TestClient(parent, base_url="http://airflow.test")


@pytest.fixture
def client(state, monkeypatch):
    seen = {"dags": {"intacct_to_sftp__acme", "intacct_to_sftp__northwind", "stampli_to_intacct"}}
    page.app.dependency_overrides[page.viewer] = lambda: "a reader"
    monkeypatch.setattr(page, "readable_dags", lambda user: seen["dags"])
    yield mounted(), seen
    page.app.dependency_overrides.clear()


def test_the_page_shows_rows_escaped_and_links_each_run(client):
    http, _ = client
    html = http.get("/mlc/deliveries").text

    assert "MLC_810_20261130_000000007.x12" in html and "invoices_1130.csv" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;.txt" in html
    assert 'href="http://airflow.test/dags/intacct_to_sftp__acme/runs/scheduled__2026-11-30T06%3A00%3A00%2B00%3A00"' in html
    assert 'class="ack ack-rejected">rejected' in html
    assert "codes set 0001: 5, IT1@6:8" in html  # the partner's error codes under its answer
    assert ('href="inbound/report?source=sftp%3A//stampli_sftp/invoices&amp;sha256=' + "e" * 64 + '"') in html


def test_an_inbound_files_error_report_downloads_from_its_sftp_server(client, sftp_connections):
    http, seen = client
    report = "Vendor,Invoice,Amount,Reason\nV1,INV-1,10.00,row 3: vendor_id: unknown vendor\n".encode()
    folder = sftp_connections.home("stampli") / "outbound" / "errors"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "invoices_1130_errors_eeeeeeee.csv").write_bytes(report)
    ask = {"source": "sftp://stampli_sftp/invoices", "sha256": "e" * 64}

    answer = http.get("/mlc/inbound/report", params=ask)
    assert answer.status_code == 200 and answer.content == report
    assert answer.headers["content-disposition"] == "attachment; filename*=UTF-8''invoices_1130_errors_eeeeeeee.csv"
    (folder / "invoices_1130_errors_eeeeeeee.csv").unlink()
    gone = http.get("/mlc/inbound/report", params=ask)
    assert gone.status_code == 502 and "outbound/errors/invoices_1130_errors_eeeeeeee.csv" in gone.json()["detail"]
    assert http.get("/mlc/inbound/report", params={**ask, "sha256": "0" * 64}).status_code == 404  # no such file
    seen["dags"] = {"intacct_to_sftp__acme"}  # may not read stampli_to_intacct's runs
    assert http.get("/mlc/inbound/report", params=ask).status_code == 404


def test_a_broken_profile_leaves_the_page_up_with_the_others(client, tmp_path, monkeypatch):
    http, _ = client
    folder = tmp_path / "partners"
    folder.mkdir()
    for profile in ("acme.yaml", "northwind.yaml"):
        (folder / profile).write_text((REPO / "include" / "partners" / profile).read_text())
    (folder / "broken.yaml").write_text("partner: broken\nintegrations: [\n")
    monkeypatch.setenv("MLC_PARTNERS_DIR", str(folder))
    answer = http.get("/mlc/api/deliveries")
    assert answer.status_code == 200 and answer.json()["partners"] == ["acme", "northwind"]


def test_the_json_and_the_filters_refuse_what_they_cannot_read(client):
    http, seen = client
    assert http.get("/mlc/api/deliveries", params={"status": "gone"}).status_code == 422
    assert "status must be one of rejected" in http.get("/mlc/deliveries", params={"status": "gone"}).text
    assert "since must be a day as YYYY-MM-DD" in http.get("/mlc/deliveries", params={"since": "yesterday"}).text

    body = http.get("/mlc/api/deliveries", params={"partner": "acme", "status": "rejected"}).json()
    assert [r["file"] for r in body["outbound"]] == ["outbound/MLC_810_20261123_000000006.x12"]
    seen["dags"] = set()  # a viewer who may read no DAG sees nothing
    assert http.get("/mlc/api/deliveries").json()["outbound"] == []


def test_without_a_login_the_page_sends_to_airflows_and_the_json_says_401(state, monkeypatch):
    class Manager:
        def get_url_login(self, next_url):
            return f"/auth/login?next={next_url}"

    import airflow.api_fastapi.app as airflow_app

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: Manager())
    http = mounted()

    async def nobody(request: Request):
        raise page.LoginNeeded()

    page.app.dependency_overrides[page.viewer] = nobody
    try:
        answer = http.get("/mlc/deliveries", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "http://airflow.test/auth/login?next=http://airflow.test/mlc/deliveries"
        assert http.get("/mlc/api/deliveries").status_code == 401
    finally:
        page.app.dependency_overrides.clear()


def test_the_test_button_middleware_drops_only_the_port_the_form_made_up():
    import json as jsonlib

    from fastapi import FastAPI

    from mlc.ui.test_button import HiddenPortMiddleware, without_hidden_port

    seen = []
    inner = FastAPI()

    @inner.post("/api/v2/connections/test")
    async def test_connection(request: Request):
        seen.append(await request.json())
        return {"ok": True}

    @inner.post("/api/v2/connections")
    async def create(request: Request):
        seen.append(await request.json())
        return {"ok": True}

    inner.add_middleware(HiddenPortMiddleware)
    http = TestClient(inner)
    form = {"conn_type": "intacct", "connection_id": "intacct_default", "host": "https://x", "port": 0,
            "password": "***"}
    http.post("/api/v2/connections/test", json=form)
    http.post("/api/v2/connections/test", json={**form, "conn_type": "exact_online"})
    http.post("/api/v2/connections/test", json={**form, "conn_type": "sterling", "port": 0})  # its port is shown
    http.post("/api/v2/connections/test", json={**form, "port": 8443})  # a port someone typed
    http.post("/api/v2/connections", json=form)  # not a test
    assert [("port" in body, body.get("port")) for body in seen] == [
        (False, None), (False, None), (True, 0), (True, 8443), (True, 0)]
    assert without_hidden_port(b"not json") == b"not json"
    assert jsonlib.loads(without_hidden_port(b'{"conn_type":"intacct","port":"0"}')) == {"conn_type": "intacct"}
