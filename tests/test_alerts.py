"""Alerts reach a person by mail (a real SMTP server on loopback) with what failed and what to do."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from sandbox import stampli
from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from tests.dagrun import load_dag

pytestmark = pytest.mark.integration
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0,
          "exports": ["bills"]}


def body(message) -> str:
    return message.get_body(preferencelist=("html", "plain")).get_content()


@pytest.fixture
def intacct(sftp_connections, use_connections, mlc_state, smtp_inbox):
    with IntacctSandbox(seed=Seed(bills=30, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        yield gateway, sftp_connections


def test_a_changed_host_key_mails_the_fingerprint_and_what_to_do(intacct, smtp_inbox, airflow_db):
    _gateway, sftp = intacct
    sftp.inject("host_key_change", times=None)
    run = load_dag("intacct_to_sftp__acme").test(run_conf=WINDOW)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["deliver_bills"] == "failed"
    # Both tasks that reach the server failed on the key: one mail each, each with the same advice.
    assert sorted(m["Subject"] for m in smtp_inbox) == ["[ml-connector] intacct_to_sftp__acme.deliver_bills needs a person",
                                                         "[ml-connector] intacct_to_sftp__acme.poll_acks needs a person"]
    mail = next(m for m in smtp_inbox if "deliver_bills" in m["Subject"])
    assert mail["To"] == "ap-oncall@example.com"
    text = body(mail)
    assert "Host key verification failed for 127.0.0.1" in text and "server offered ssh-ed25519 SHA256:" in text
    assert "Ask the partner, by phone or a channel you trust, for the new key&#x27;s fingerprint" in text
    assert f"run {run.run_id}" in text


def test_a_rejecting_ack_mails_the_file_and_the_codes(intacct, smtp_inbox):
    _gateway, sftp = intacct
    dag = load_dag("intacct_to_sftp__acme")
    assert dag.test(run_conf=WINDOW).state == "success"
    x12 = next(p.read_text() for p in (sftp.home("partner") / "outbound").iterdir() if p.name.endswith(".x12"))
    gs06 = x12.split("~\n")[1].split("*")[6]
    acks = sftp.home("partner") / "acks"
    acks.mkdir()
    isa = f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{'ACMESUPPLY':<15}*ZZ*{'MLCBUYER':<15}*261117*0900*U*00401*000000077*0*P*>~"
    segments = ["GS*FA*ACMESUPPLY*MLCBUYER*20261117*0900*77*X*004010", "ST*997*0001", f"AK1*IN*{gs06}",
                "AK2*810*0001", "AK5*R*5", "AK9*R*1*1*0", "SE*6*0001", "GE*1*77", "IEA*1*000000077"]
    (acks / "997_reject.x12").write_text(isa + "\n" + "~\n".join(segments) + "~\n")
    run = dag.test(run_conf=WINDOW)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["poll_acks"] == "failed"
    assert [m["Subject"] for m in smtp_inbox] == ["[ml-connector] intacct_to_sftp__acme.poll_acks needs a person"]
    text = body(smtp_inbox[0])
    assert "997_reject.x12: set 0001 of outbound/MLC_810_" in text and "rejected (status R, codes 5" in text
    assert "send the file again with the `force` Param" in text


def test_rejected_stampli_rows_mail_the_error_report(sftp_connections, use_connections, mlc_state, smtp_inbox):
    with IntacctSandbox(seed=Seed(bills=20, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        home = sftp_connections.home("stampli")
        export = stampli.invoice_export(gateway.store, 4, day=datetime(2026, 11, 20).date(),
                                        defects=("unknown_vendor", "bad_date"))
        stampli.drop(home, export, "invoices")
        dag = load_dag("stampli_to_intacct")
        for task in dag.tasks:
            if task.task_id.startswith("pick_up_"):
                task.settle_seconds = 0.3
        run = dag.test()
    assert run.state == "success"
    assert [m["Subject"] for m in smtp_inbox] == [
        "[ml-connector] stampli_to_intacct.post_invoices: 1 item(s) need attention"]
    text = body(smtp_inbox[0])
    (report,) = (home / "errors").glob("*_errors_*.csv")
    rejected_rows = len(report.read_text(encoding="utf-8-sig").splitlines()) - 1
    assert rejected_rows >= 2
    assert f"{rejected_rows} of " in text and f"row(s) of Stampli invoices file {export.name} were rejected" in text
    assert f"Open the error report errors/{report.name}" in text


def test_an_exact_consent_that_died_mails_the_command_to_run(sftp_connections, use_connections, mlc_state,
                                                            smtp_inbox):
    with ExactSandbox(seed=ExactSeed(invoices=5), window_seconds=1.0) as exact:
        use_connections(exact.connections())
        exact.revoke()
        run = load_dag("exact_online_to_sftp__warehouse_erp").test(run_conf={**WINDOW, "exports": ["purchase_invoices"]})
    failed = sorted(ti.task_id for ti in run.get_task_instances() if ti.state == "failed")
    assert failed == ["extract_purchase_invoices", "watcher"]  # the watcher fails the run, and sends nothing
    assert [m["Subject"] for m in smtp_inbox] == [
        "[ml-connector] exact_online_to_sftp__warehouse_erp.extract_purchase_invoices needs a person"]
    assert "ExactReauthRequired" in body(smtp_inbox[0]) and "run `mlc exact-auth" in body(smtp_inbox[0])


def test_retries_exhausted_mails_the_error_and_how_to_replay(smtp_inbox):
    from mlc.operators.alerts import MlcAlertNotifier

    ti = SimpleNamespace(dag_id="intacct_to_sterling", task_id="upload_bills", run_id="scheduled__2026-11-21",
                         try_number=4)
    MlcAlertNotifier(on="failure").notify({"ti": ti, "exception": ConnectionError("b2bi.example.com: timed out")})
    assert [m["Subject"] for m in smtp_inbox] == ["[ml-connector] intacct_to_sterling.upload_bills failed after 4 tries"]
    text = body(smtp_inbox[0])
    assert "ConnectionError: b2bi.example.com: timed out" in text and "clear the task in the Airflow UI" in text


def test_a_secret_the_logs_mask_is_masked_in_the_mail_too(smtp_inbox):
    from mlc.hooks.masking import mask
    from mlc.operators.alerts import MlcAlertNotifier

    mask("s3cret-sender-pw")
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=1)
    MlcAlertNotifier(on="failure").notify({"ti": ti, "exception": RuntimeError("login refused for s3cret-sender-pw")})
    assert "s3cret-sender-pw" not in body(smtp_inbox[0]) and "login refused for ***" in body(smtp_inbox[0])


def test_without_recipients_the_alert_is_logged_and_nothing_is_sent(smtp_inbox, monkeypatch, capsys):
    from mlc.operators.alerts import MlcAlertNotifier

    monkeypatch.delenv("MLC_ALERT_TO")
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", try_number=1)
    MlcAlertNotifier(on="failure").notify({"ti": ti, "exception": RuntimeError("boom")})
    assert smtp_inbox == []
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "MLC_ALERT_TO is not set" in log and "RuntimeError: boom" in log


def test_make_ups_mail_catcher_keeps_each_alert_for_a_person_to_read(tmp_path, use_connections, monkeypatch):
    import requests

    from mlc.operators.alerts import MlcAlertNotifier
    from sandbox.mail import ALERT_ADDRESS, MailSandbox

    with MailSandbox(tmp_path / "mail") as catcher:
        use_connections(catcher.connections())
        monkeypatch.setenv("MLC_ALERT_TO", ALERT_ADDRESS)
        assert "No alert yet" in requests.get(catcher.url, timeout=10).text
        ti = SimpleNamespace(dag_id="stampli_to_intacct", task_id="post_invoices", run_id="r", try_number=1)
        MlcAlertNotifier(on="failure").notify({"ti": ti, "exception": RuntimeError("3 rows <rejected> & kept")})
        page = requests.get(catcher.url, timeout=10).text
    (kept,) = sorted((tmp_path / "mail").glob("*.eml"))
    assert "[ml-connector] stampli_to_intacct.post_invoices failed after 1 tries" in page
    assert "RuntimeError: 3 rows &lt;rejected&gt; &amp; kept" in page and "<rejected>" not in page  # text, not markup
    assert f"to {ALERT_ADDRESS}" in page and b"post_invoices" in kept.read_bytes()
