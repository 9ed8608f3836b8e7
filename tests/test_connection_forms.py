"""The intacct, exact_online and sterling connection types in a running api-server: form fields and Test button.

ml-connector is installed as a local provider (pyproject entry point → plugins/mlc_provider.py).
The test starts a real ``airflow api-server`` on a database of its own and asks it what the UI
asks: the connection form's metadata (``/ui/connections/hook_meta``), then the Test button
(``POST /api/v2/connections/test``) against the sandbox systems.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from sandbox.processes import free_port
from sandbox.sterling import SterlingSandbox
from tests.apiserver import api_server, bearer_session

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[tuple[str, requests.Session]]:
    """A running api-server (SQLite metadata, connection testing enabled) and a logged-in session."""
    with api_server(tmp_path_factory.mktemp("api-server"), "forms-test",
                    {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}) as url:
        yield url, bearer_session(url, "forms-test")


def hook_meta(api) -> dict[str, dict]:
    url, session = api
    answer = session.get(f"{url}/ui/connections/hook_meta", timeout=30)
    assert answer.status_code == 200, answer.text
    return {m["connection_type"]: m for m in answer.json()}


def test_the_three_types_show_in_the_connection_form_with_their_fields(api):
    meta = hook_meta(api)
    intacct, exact, sterling = meta["intacct"], meta["exact_online"], meta["sterling"]
    assert (intacct["hook_name"], exact["hook_name"], sterling["hook_name"]) == (
        "Sage Intacct", "Exact Online", "IBM Sterling B2B Integrator")
    assert intacct["hook_class_name"] == "mlc.hooks.intacct.IntacctHook"
    assert intacct["standard_fields"]["host"] == {"hidden": False, "title": "XML gateway URL",
                                                  "placeholder": "https://api.intacct.com/ia/xml/xmlgw.phtml"}
    assert intacct["standard_fields"]["port"]["hidden"] is True
    assert intacct["standard_fields"]["login"]["title"] == "Web Services user ID"
    assert set(intacct["extra_fields"]) == {"sender_id", "sender_password", "company_id", "entity_id", "timezone"}
    assert intacct["extra_fields"]["sender_password"]["schema"]["format"] == "password"
    assert intacct["extra_fields"]["company_id"]["schema"]["title"] == "Company ID"
    assert exact["standard_fields"]["login"]["title"] == "Client ID"
    assert exact["standard_fields"]["host"]["placeholder"] == "https://start.exactonline.nl"
    assert set(exact["extra_fields"]) == {"division", "refresh_token"}
    assert exact["extra_fields"]["refresh_token"]["schema"]["format"] == "password"
    assert sterling["standard_fields"]["url_schema"]["title"] == "Scheme (https)"
    assert set(sterling["extra_fields"]) >= {"base_path", "content_path", "token_url", "client_secret"}


def _test_button(api, conn_id: str, conn: dict) -> dict:
    url, session = api
    body = {"connection_id": conn_id, "conn_type": conn["conn_type"], "host": conn.get("host"),
            "login": conn.get("login"), "password": conn.get("password"), "port": conn.get("port"),
            "schema": conn.get("schema"), "extra": json.dumps(conn.get("extra") or {})}
    answer = session.post(f"{url}/api/v2/connections/test", json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_test_button_reaches_intacct_and_reports_a_wrong_password(api):
    with IntacctSandbox(seed=Seed(bills=2, anchor=datetime(2026, 11, 16))) as gateway:
        conn = gateway.connections()["intacct_default"]
        ok = _test_button(api, "intacct_default", conn)
        bad = _test_button(api, "intacct_default", {**conn, "password": "not-the-password"})
    assert ok["status"] is True, ok
    assert bad["status"] is False and "not-the-password" not in bad["message"]


def test_the_test_button_of_a_stored_connection_works_as_the_form_sends_it(api):
    """The list's Test button sends the stored connection with its secrets masked and the hidden port as 0;
    Airflow refuses a test whose port differs from the stored one (none) unless ml-connector's middleware drops
    that 0 (plugins/mlc/ui/test_button.py)."""
    url, session = api
    with IntacctSandbox(seed=Seed(bills=2, anchor=datetime(2026, 11, 16))) as gateway:
        conn = gateway.connections()["intacct_default"]
        stored = {"connection_id": "intacct_stored", "conn_type": "intacct", "host": conn["host"],
                  "login": conn["login"], "password": conn["password"], "extra": json.dumps(conn["extra"])}
        assert session.post(f"{url}/api/v2/connections", json=stored, timeout=30).status_code == 201
        masked = {**conn["extra"], "sender_password": "***"}
        form = {**stored, "password": "***", "extra": json.dumps(masked), "port": 0, "schema": "", "description": ""}
        answer = session.post(f"{url}/api/v2/connections/test", json=form, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": True, "message": "Logged in to Sage Intacct and opened an API session"}


def test_the_test_button_reaches_sterling_and_exact_online(api):
    with SterlingSandbox() as sterling:
        result = _test_button(api, "sterling_default", sterling.connections()["sterling_default"])
    assert result["status"] is True, result
    with ExactSandbox(seed=ExactSeed(invoices=1)) as exact:
        conn = exact.connections()["exact_online_default"]
        ok = _test_button(api, "exact_online_default", conn)
        wrong = _test_button(api, "exact_online_default", {**conn, "host": f"http://127.0.0.1:{free_port()}"})
    assert ok["status"] is True and "reachable" in ok["message"], ok
    assert wrong["status"] is False and wrong["message"]  # no server there: the button says so


def test_hooks_read_plain_and_prefixed_extra_keys():
    from types import SimpleNamespace

    from mlc.hooks.extras import connection_extras

    conn = SimpleNamespace(extra_dejson={"extra__intacct__sender_id": "OLDFORM", "company_id": "ACME",
                                         "extra__intacct__company_id": "IGNORED", "extra__intacct__entity_id": ""})
    assert connection_extras(conn, "intacct") == {"sender_id": "OLDFORM", "company_id": "ACME"}
