"""`make demo` end to end: the real scheduler (airflow standalone) runs every DAG against the sandbox."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlc.operators.audit import parse_audit_line
from sandbox.intacct import SENDER_PASSWORD as INTACCT_SENDER_PASSWORD
from sandbox.intacct import USER_PASSWORD as INTACCT_USER_PASSWORD
from sandbox.exact import CLIENT_SECRET as EXACT_CLIENT_SECRET
from sandbox.servers import STAMPLI_PASSWORD
from sandbox.sftp import CLIENT_KEY
from sandbox.snowflake import SNOWFLAKE_KEY
from sandbox.sterling import PASSWORD as STERLING_PASSWORD
from sandbox.demo import dag_ids
from tests.apiserver import api_server, bearer_session
from tests.browser import chromium, has_browser, open_deliveries
from tests.processes import processes_of

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.system


def test_dag_ids_are_read_without_importing_airflow():
    assert "mlc_connections_check" in dag_ids(REPO / "dags")
    assert "mlc_resend" not in dag_ids(REPO / "dags")  # a person triggers it, naming a run: not the demo's
    assert "mlc_needs_a_person" not in dag_ids(REPO / "dags")  # its runs come from reports, and wait for a person


# The two whole Airflow deployments take turns on one worker: side by side on two cores they would compete for
# every cycle (CI once timed the demo out while other tests ran beside it).
@pytest.mark.xdist_group("airflow_deployments")
def test_demo_runs_every_dag_to_success_and_stops_everything(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.pop("AIRFLOW_HOME", None)

    # The demo's own deadline comes first, so a slow run fails with the demo's account of where each run stands.
    done = subprocess.run([sys.executable, str(REPO / "bin" / "mlc"), "demo", "--workdir", str(tmp_path / "demo"),
                           "--timeout", "780"], capture_output=True, text=True, env=env, timeout=1000)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for dag_id in dag_ids(REPO / "dags"):
        assert re.search(rf"^{dag_id}\s+manual__\S+\s+success\s", out, re.M), f"{dag_id} missing from summary"
    assert re.search(r"check_sftp_default\s+success\s+remote_path=\S+ [0-9a-f]{64}$", out, re.M)
    assert re.search(r"^intacct_to_sftp__acme\s+manual__\S+\s+success\s+deliver_bills\s+success\s+"
                     r"remote_path=outbound/MLC_810_\S+\.x12 file=\S+ records=[1-9]\d* [0-9a-f]{64}$", out, re.M)
    assert re.search(r"\d+ run\(s\) succeeded, 0 failed", out)
    # Per run with records: extracted = delivered + waived (dirty data included), for every DAG that extracts.
    counted = re.findall(r"^(\w+)\s+(?:manual|scheduled)__\S+\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    # Two partners of intacct_to_sftp (two layouts, folders, schedules and Intacct companies), two Sterling ones.
    assert {dag for dag, *_ in counted} >= {"intacct_to_sftp__acme", "intacct_to_sftp__northwind",
                                            "intacct_to_sterling__sterling_hub", "intacct_to_sterling__fresh_farms",
                                            "intacct_to_snowflake", "exact_online_to_sftp__warehouse_erp"}
    assert re.search(r"^intacct_to_sftp__northwind\s+manual__\S+\s+success\s+deliver_bills\s+success\s+"
                     r"remote_path=northwind/in/MLC_BILLS_\S+\.txt ", out, re.M)
    assert all(int(e) == int(d) + int(w) and int(e) > 0 for _dag, e, d, w in counted), counted
    assert processes_of(str(tmp_path / "demo")) == [], "the demo left processes running"
    # The task logs are the audit trail: the scheduler's workers wrote AUDIT lines into them.
    logs = list((tmp_path / "demo" / "airflow" / "logs").rglob("task_id=check_sftp_default/attempt=1.log"))
    audits = [a for log in logs for a in map(parse_audit_line, log.read_text().splitlines()) if a]
    assert audits and all(a["event"] == "connection_checked" and a["status"] == "ok" for a in audits)
    all_logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "demo" / "airflow" / "logs").rglob("*.log"))
    leaked = [kind for kind, secret in demo_secrets(tmp_path / "demo") if secret in all_logs]
    assert not leaked, f"secrets reached the task logs: {leaked}"
    assert not JWT.search(all_logs), "a bearer token (JWT) reached the task logs"
    # What the demo delivered is on the deliveries page, with each file's acknowledgment state.
    state = f"sqlite:///{tmp_path / 'demo' / 'airflow' / 'mlc-state.db'}"
    (tmp_path / "api").mkdir()
    with api_server(tmp_path / "api", "demo-page", {"MLC_STATE_URL": state}) as url:
        rows = bearer_session(url, "demo-page").get(f"{url}/mlc/api/deliveries", timeout=30).json()["outbound"]
        if has_browser():  # and in a browser (README picture: MLC_SCREENSHOT=$PWD/docs/deliveries.png)
            see_the_demo_in_a_browser(url, tmp_path / "deliveries.png")
    sent = sorted((r["partner"], r["file"].rsplit("/", 1)[-1]) for r in rows)
    assert any(p == "acme" and f.startswith("MLC_810_") for p, f in sent), sent
    assert any(p == "northwind" and f.startswith("MLC_BILLS_") for p, f in sent), sent
    assert all(r["ack"] in ("accepted", "pending", "none expected") for r in rows), [(r["file"], r["ack"]) for r in rows]


def see_the_demo_in_a_browser(url: str, screenshot: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as browser:
        open_deliveries(browser, url, "demo-page")
        files = [row.find_elements(By.TAG_NAME, "td")[2].text
                 for row in browser.find_elements(By.CSS_SELECTOR, "#outbound tbody tr")]
        assert any(f.startswith("MLC_810_") for f in files), files
        browser.switch_to.default_content()
        browser.save_screenshot(str(screenshot))
        if os.environ.get("MLC_SCREENSHOT"):
            browser.save_screenshot(os.environ["MLC_SCREENSHOT"])
    assert screenshot.stat().st_size > 10_000


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")


def demo_secrets(workdir: Path) -> list[tuple[str, str]]:
    """Every secret the demo's systems know: connection passwords and secret extras, the session ids and
    tokens the sandbox handed out (its servers note them), and the private keys' bodies."""
    found = [("stampli password", STAMPLI_PASSWORD), ("intacct user password", INTACCT_USER_PASSWORD),
             ("intacct sender password", INTACCT_SENDER_PASSWORD), ("sterling password", STERLING_PASSWORD),
             ("exact client secret", EXACT_CLIENT_SECRET)]
    issued = (workdir / "sandbox" / "issued-secrets.txt").read_text().split()
    assert any(s.endswith("..") for s in issued), "the demo logged in to Intacct: its session ids are noted"
    assert any(s.startswith("AT") for s in issued), "the demo refreshed an Exact token: it is noted"
    found += [("issued session id / token", s) for s in issued]
    for key in (CLIENT_KEY, SNOWFLAKE_KEY):
        text = Path(key).read_text()
        body = [line for line in text.splitlines() if line and not line.startswith("-----")]
        found += [(f"private key {Path(key).name}", line) for line in body[:3]]
        found.append((f"private key {Path(key).name} (base64, as in a connection)",
                      base64.b64encode(text.encode()).decode()[:60]))
    return [(kind, secret) for kind, secret in found if len(secret) >= 8]
