"""The deliveries page in a real Airflow api-server, in a real browser: Browse → Deliveries after logging in through
Airflow's own login form, the files a partner got with their acknowledgments, the filters, and no page without a
login. (The rows themselves: tests/test_deliveries_page.py; after a whole demo run: tests/test_demo.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlc.state.ledgers import AckLedger, DeliveryLedger, InboundLedger, sftp_destination
from sandbox.servers import build_sftp
from tests.apiserver import api_server
from tests.browser import chromium, need_browser, open_deliveries, wait_for

pytestmark = pytest.mark.system
PASSWORD = "deliveries-test"
ACME = sftp_destination("sftp_default", "outbound")
REPORT = b"Vendor,Invoice,Amount,Reason\r\nV1,INV-9,10.00,row 3: vendor_id: unknown vendor\r\n"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory) -> Iterator[str]:
    need_browser()
    home = tmp_path_factory.mktemp("deliveries")
    url = f"sqlite:///{home / 'mlc-state.db'}"
    ledger = DeliveryLedger(url)
    ledger.record(ACME, "a" * 64, "outbound/MLC_810_20261130_000000007.x12", 1200, "manual__2026-11-30T06:00:00+00:00",
                  {"isa13": "000000007", "gs06": "7", "st02_count": 47, "ack_within_hours": 24, "records": 47})
    ledger.record(ACME, "c" * 64, "outbound/MLC_810_20261123_000000006.x12", 900, "manual__2026-11-23T06:00:00+00:00",
                  {"isa13": "000000006", "gs06": "6", "ack_within_hours": 24, "records": 3})
    AckLedger(url).answered(ACME, "c" * 64, "rejected", "acks/processed/997_000000006.x12", "set 0001: 5, IT1@6:8")
    InboundLedger(url).mark("sftp://stampli_sftp/invoices", "e" * 64, "stampli_invoices_1130.csv", "done",
                            "manual__2026-11-30T05:00:00+00:00", rows=10, posted=8, rejected=2,
                            report="outbound/errors/stampli_invoices_1130_errors_eeeeeeee.csv")
    with build_sftp(home / "sftp") as sftp:  # the error report is read from Stampli's server when asked for
        errors = sftp.home("stampli") / "outbound" / "errors"
        errors.mkdir(parents=True)
        (errors / "stampli_invoices_1130_errors_eeeeeeee.csv").write_bytes(REPORT)
        connections = {f"AIRFLOW_CONN_{k.upper()}": json.dumps(v) for k, v in sftp.connections().items()}
        with api_server(home, PASSWORD, {"MLC_STATE_URL": url, **connections}) as base:
            yield base


def test_a_person_logs_in_opens_deliveries_and_sees_each_file_and_its_acknowledgment(airflow, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with chromium() as browser:
        open_deliveries(browser, airflow, PASSWORD)  # logging in through Airflow's form, then Browse -> Deliveries
        table = browser.find_element(By.ID, "outbound")
        rows = {row.find_elements(By.TAG_NAME, "td")[2].text: row.text
                for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert set(rows) == {"MLC_810_20261130_000000007.x12", "MLC_810_20261123_000000006.x12"}
        assert "rejected" in rows["MLC_810_20261123_000000006.x12"]
        assert "acks/processed/997_000000006.x12" in rows["MLC_810_20261123_000000006.x12"]
        assert "codes set 0001: 5, IT1@6:8" in rows["MLC_810_20261123_000000006.x12"]
        assert "pending" in rows["MLC_810_20261130_000000007.x12"] and "ISA13 000000007" in rows[
            "MLC_810_20261130_000000007.x12"]
        inbound = browser.find_element(By.ID, "inbound").text
        assert "stampli_invoices_1130.csv" in inbound and "Stampli export" in inbound
        report = browser.find_element(By.LINK_TEXT, "stampli_invoices_1130_errors_eeeeeeee.csv").get_attribute("href")
        # the link, as the browser resolved it, downloads the report through the api-server with the session's cookie
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        download = requests.get(report, cookies=cookies, timeout=30)
        assert download.status_code == 200 and download.content == REPORT, download.text[:500]
        assert "attachment" in download.headers["content-disposition"]
        link = browser.find_element(By.LINK_TEXT, "manual 2026-11-30 06:00").get_attribute("href")
        assert link == f"{airflow}/dags/intacct_to_sftp__acme/runs/manual__2026-11-30T06%3A00%3A00%2B00%3A00"
        browser.switch_to.default_content()
        browser.save_screenshot(str(tmp_path / "deliveries.png"))

        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[src$='mlc/deliveries']"))
        Select(browser.find_element(By.NAME, "status")).select_by_visible_text("rejected")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(browser, lambda: "status=rejected" in browser.current_url or browser.execute_script(
            "return location.search").find("status=rejected") >= 0, "the filtered page")
        texts = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#outbound tbody tr")]
        assert len(texts) == 1 and "MLC_810_20261123_000000006.x12" in texts[0]
    assert Path(tmp_path / "deliveries.png").stat().st_size > 10_000


def test_without_a_login_there_is_no_page_and_no_json(airflow):
    page = requests.get(f"{airflow}/mlc/deliveries", allow_redirects=False, timeout=10)
    assert page.status_code == 303 and "/auth/login" in page.headers["location"]
    answer = requests.get(f"{airflow}/mlc/api/deliveries", timeout=10)
    assert answer.status_code == 401 and "log in" in answer.json()["detail"]
    token = requests.post(f"{airflow}/auth/token", json={"username": "admin", "password": PASSWORD}, timeout=10)
    rows = requests.get(f"{airflow}/mlc/api/deliveries", params={"partner": "acme"}, timeout=10,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()["outbound"]
    assert sorted(r["ack"] for r in rows) == ["pending", "rejected"]
