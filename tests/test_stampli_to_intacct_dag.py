"""stampli_to_intacct end to end with dag.test() against the sandbox Intacct gateway and SFTP server."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlc.operators.audit import parse_audit_line
from mlc.hooks.retry import RetryPolicy
from sandbox import stampli
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from tests.dagrun import asset_events, load_dag

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


@pytest.fixture
def env(sftp_connections, use_connections, mlc_state):
    with IntacctSandbox(seed=Seed(bills=40, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        yield gateway, sftp_connections, sftp_connections.home("stampli")


@pytest.fixture
def dag(airflow_db):
    dag = load_dag("stampli_to_intacct")
    for task in dag.tasks:
        if task.task_id.startswith("pick_up_"):
            task.settle_seconds = 0.3
        else:
            task.hook_kwargs = {"retry": RetryPolicy.configured(attempts=3)}
    return dag


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def stampli_bills(gateway) -> list[tuple]:
    return gateway.store.select('SELECT "RECORDNO", "VENDORID", "RECORDID", "TOTALENTERED", "STATE" FROM "APBILL" '
                                'WHERE "RECORDID" LIKE ? ORDER BY "RECORDID"', ["STP-%"])


def lines_of(gateway, record_no) -> list[tuple]:
    return [(a, round(x, 2)) for a, x in gateway.store.select(
        'SELECT "ACCOUNTNO", "TRX_AMOUNT" FROM "APBILLITEM" WHERE "RECORDKEY" = ? ORDER BY "LINE_NO"', [record_no])]


def report_rows(home: Path) -> list[dict]:
    rows = []
    for path in sorted((home / "errors").glob("*_errors_*.csv")):
        rows.extend(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    return rows


def test_invoices_become_bills_and_payments_settle_them_and_defects_are_reported(dag, env, capsys, monkeypatch):
    gateway, _sftp, home = env
    monkeypatch.setattr("mlc.operators.stampli_post.GROUPS_PER_BATCH", 4)  # many batches of bills, as a big file has
    invoices = stampli.invoice_export(gateway.store, 12, day=DAY, defects=stampli.DEFECTS)
    payments = stampli.payment_export(invoices.invoices, day=DAY, every=3)
    stampli.drop(home, invoices, "invoices")
    stampli.drop(home, payments, "payments")

    run = dag.test()
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states

    bills = stampli_bills(gateway)
    assert [b[2] for b in bills] == [i["number"] for i in invoices.invoices]  # 12 good ones, no defective one
    for (record_no, vendor, number, total, _state), expected in zip(bills, invoices.invoices):
        assert (vendor, round(total, 2)) == (expected["vendor_id"], round(expected["total"], 2)), number
        assert lines_of(gateway, record_no) == [(a, round(x, 2)) for a, x in expected["lines"]]

    paid = {p["number"] for p in payments.invoices}
    assert len(paid) == 4
    assert {b[2] for b in bills if b[4] == "Paid"} == paid
    applied = gateway.store.select(
        'SELECT p."DOCNUMBER", b."RECORDID", d."TRX_PAYMENTAMOUNT" FROM "APPYMT" p JOIN "APPYMTDETAIL" d '
        'ON d."PAYMENTKEY" = p."RECORDNO" JOIN "APBILL" b ON b."RECORDNO" = d."RECORDKEY" WHERE p."DOCNUMBER" LIKE ?',
        ["ACH-%"])
    assert sorted((r, n, round(a, 2)) for r, n, a in applied) == sorted(
        (p["reference"], p["number"], round(p["total"], 2)) for p in payments.invoices)

    reasons = {row["Invoice Number"]: row["Reason"] for row in report_rows(home) if row["Line"] == "1"}
    expected_reasons = {
        "unknown_vendor": "not found in Intacct by ID or by name", "unknown_account": "GL account '9999' does not exist",
        "bad_amount": "'12.3O' is not an amount", "bad_date": "'31/02/2026' is not a date",
        "missing_value": "required value missing ('GL Account')", "bad_currency": "currency XYZ is not one this company posts in",
        "total_mismatch": "the lines add up to", "european_amount": "is not an amount in this feed's notation",
        "zero_bill": "zero-amount bill", "year_9999": "'12/31/9999' is outside the dates this feed takes"}
    assert set(reasons) == set(invoices.defects)
    for number, defect in invoices.defects.items():
        assert expected_reasons[defect] in reasons[number], (defect, reasons[number])
        assert reasons[number].startswith("row ")

    rows = [a for a in audits(log) if a["event"].startswith("row_")]
    data_rows = invoices.data.decode("utf-8-sig").count("\r\n") - 1 + len(payments.invoices)
    assert len(rows) == data_rows
    posted = [a for a in rows if a["event"] == "row_posted"]
    assert all(a["recordno"] and a["controlid"].startswith("mlc-") and a["file"] for a in posted)
    assert {a["status"] for a in rows} == {"posted", "rejected"}
    rejected = [a for a in rows if a["event"] == "row_rejected"]
    assert rejected and all(a["file"] == invoices.name and a["row"] > 1 and a["vendor_name"] and a["error"]
                            for a in rejected)
    assert all(a["vendor_id"] and a["amount"] for a in rejected if a["field"] not in ("vendor_id", "amount"))
    # the run is green, and the rejected rows wait for a person under Required Actions (mlc_needs_a_person)
    (report,) = [(extra, task) for name, extra, task in asset_events(run.run_id) if name == "mlc_needs_a_person"]
    assert report[1] == "post_invoices" and report[0]["run_id"] == run.run_id
    assert [item["what"] for item in report[0]["items"]] and invoices.name in report[0]["items"][0]["what"]
    assert [p.name for p in (home / "outbound" / "archive" / "invoices").iterdir()] == [invoices.name]
    assert [p.name for p in (home / "outbound" / "archive" / "payments").iterdir()] == [payments.name]
    assert not list((home / "outbound" / "invoices").iterdir())


def test_the_same_invoices_again_replays_and_lost_answers_still_give_one_bill_each(dag, env, capsys):
    gateway, _sftp, home = env
    invoices = stampli.invoice_export(gateway.store, 10, day=DAY)
    stampli.drop(home, invoices, "invoices")
    gateway.inject("commit_then_524")  # a create batch committed, the answer lost
    gateway.inject("expired_session")
    assert dag.test().state == "success"
    assert len(stampli_bills(gateway)) == 10
    capsys.readouterr()
    assert gateway.faults.armed() == []  # both faults were met

    stampli.drop(home, invoices, "invoices")  # the same file dropped again
    invoices_sha = hashlib.sha256(invoices.data).hexdigest()
    again = dag.test()
    log = capsys.readouterr().out
    assert again.state == "success"
    assert [a["reason"][:17] for a in audits(log) if a["event"] == "file_skipped"] == ["already processed"]
    assert len(stampli_bills(gateway)) == 10

    # the same invoices in another file, plus one new one: only the new one is created
    more = stampli.invoice_export(gateway.store, 11, day=DAY)
    more.name = "stampli_invoices_resent.csv"
    stampli.drop(home, more, "invoices")
    assert dag.test().state == "success"
    log = capsys.readouterr().out
    assert len(stampli_bills(gateway)) == 11
    statuses = [a["status"] for a in audits(log) if a["event"].startswith("row_")]
    assert statuses.count("already_posted") == sum(len(i["lines"]) for i in invoices.invoices)

    # a replay of an archived file on request: every row already posted, nothing new
    replay = dag.test(run_conf={"file_name": invoices.name, "file_feed": "invoices"})
    log = capsys.readouterr().out
    assert replay.state == "success" and len(stampli_bills(gateway)) == 11
    assert {a["status"] for a in audits(log) if a["event"].startswith("row_")} == {"already_posted"}

    # re-run the archived files of a period: both invoice files again, nothing new
    now = datetime.now(timezone.utc)
    rerun = dag.test(run_conf={"file_name": None,  # dag.test() keeps the last run's conf on a reused DAG object
                               "rerun_from": (now - timedelta(hours=1)).isoformat(),
                               "rerun_to": (now + timedelta(hours=1)).isoformat()})
    log = capsys.readouterr().out
    assert rerun.state == "success" and len(stampli_bills(gateway)) == 11
    assert sorted({a["file"] for a in audits(log) if a["event"] == "file_processed"}) == sorted(
        [invoices.name, f"{invoices.name[:-4]}.{invoices_sha[:12]}.csv", more.name])  # with the re-dropped copy
    assert {a["status"] for a in audits(log) if a["event"].startswith("row_")} == {"already_posted"}


def test_a_posting_that_stops_midway_finishes_on_the_next_run_without_duplicates(dag, env, capsys):
    gateway, _sftp, home = env
    invoices = stampli.invoice_export(gateway.store, 8, day=DAY)
    stampli.drop(home, invoices, "invoices")
    dag.task_dict["post_invoices"].write_batch_size = 3
    # the gateway goes down after the first batch of creates
    gateway.inject("http_5xx", times=None, status=503, body="", body_contains="mlc-apbill-")
    first = dag.test()
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in first.get_task_instances()}
    assert states["post_invoices"] == "failed"
    assert "row(s) not posted yet" in log and "finishes them without posting anything twice" in log
    assert (home / "outbound" / "invoices" / invoices.name).exists()  # not archived
    gateway.clear_faults()

    second = dag.test()
    assert second.state == "success"
    assert [b[2] for b in stampli_bills(gateway)] == [i["number"] for i in invoices.invoices]
    assert (home / "outbound" / "archive" / "invoices" / invoices.name).exists()


def test_a_half_written_file_waits_until_it_is_complete(dag, env, capsys, monkeypatch):
    gateway, _sftp, home = env
    invoices = stampli.invoice_export(gateway.store, 5, day=DAY)
    folder = home / "outbound" / "invoices"
    folder.mkdir(parents=True)
    path = folder / invoices.name
    half = len(invoices.data) // 2
    path.write_bytes(invoices.data[:half])
    import mlc.operators.sftp_pickup as pickup

    real_sleep = pickup.time.sleep
    written = []

    def still_writing(seconds: float) -> None:  # Stampli is still writing between the pick-up's two looks
        if not written and seconds == dag.task_dict["pick_up_invoices"].settle_seconds:
            written.append(True)
            with path.open("ab") as out:
                out.write(invoices.data[half:])
            os.utime(path, (time.time() + 5, time.time() + 5))
        real_sleep(seconds)

    monkeypatch.setattr(pickup.time, "sleep", still_writing)
    first = dag.test()
    monkeypatch.setattr(pickup.time, "sleep", real_sleep)
    log = capsys.readouterr().out
    assert first.state == "success"
    assert [a["file"] for a in audits(log) if a["event"] == "file_not_ready"] == [invoices.name]
    assert stampli_bills(gateway) == []

    assert dag.test().state == "success"
    assert len(stampli_bills(gateway)) == 5


def test_a_file_missing_a_required_column_is_refused_whole(dag, env, capsys):
    gateway, _sftp, home = env
    invoices = stampli.invoice_export(gateway.store, 3, day=DAY)
    text = invoices.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    drop_at = rows[0].index("GL Account")
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([r[:drop_at] + r[drop_at + 1:] for r in rows])
    invoices.data = out.getvalue().encode()
    stampli.drop(home, invoices, "invoices")
    run = dag.test()
    log = capsys.readouterr().out
    assert run.state == "success"
    assert stampli_bills(gateway) == []
    refused = [a for a in audits(log) if a["event"] == "file_rejected"]
    assert len(refused) == 1 and "'GL Account' (gl_account_no)" in refused[0]["reason"]
    assert (home / "errors" / invoices.name).exists()
    assert "missing from the header" in (home / "errors" / f"{invoices.name}.reason.txt").read_text()


def test_names_that_leave_the_folder_are_refused(dag, env, capsys):
    gateway, _sftp, home = env
    folder = home / "outbound" / "invoices"
    folder.mkdir(parents=True)
    shutil.copy(REPO / "include" / "mappings" / "stampli_to_intacct" / "invoices_feed.yaml", folder / ".hidden.csv")
    run = dag.test(run_conf={"file_name": "../payments/x.csv", "file_feed": "invoices"})
    log = capsys.readouterr().out
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["pick_up_invoices"] == "failed"
    assert "refusing file name '../payments/x.csv'" in log
    assert stampli_bills(gateway) == []


def test_a_file_the_csv_reader_cannot_parse_is_refused_whole_and_the_next_file_still_goes(dag, env, capsys):
    """An unterminated quote would otherwise swallow the rest of the file into one cell: nothing of it is posted,
    it moves to errors/ with the line named, and a poison file never blocks the file after it."""
    gateway, _sftp, home = env
    broken = stampli.unparsable(stampli.invoice_export(gateway.store, 30, day=DAY), row=4)
    good = stampli.invoice_export(gateway.store, 3, day=DAY, seed=8, prefix="OK")
    stampli.drop(home, broken, "invoices")
    stampli.drop(home, good, "invoices")

    run = dag.test()
    log = capsys.readouterr().out

    assert run.state == "success"
    assert [b[2] for b in stampli_bills(gateway) if b[2].startswith("STP")] == []  # no partial bill, no bill at all
    posted = [r for (r,) in gateway.store.select('SELECT "RECORDID" FROM "APBILL" WHERE "RECORDID" LIKE ?', ["OK-%"])]
    assert sorted(posted) == sorted(i["number"] for i in good.invoices)
    (refused,) = [a for a in audits(log) if a["event"] == "file_rejected"]
    assert refused["file"] == broken.name and "begins on line 5" in refused["reason"]
    assert (home / "errors" / broken.name).exists()
    assert "is not valid CSV" in (home / "errors" / f"{broken.name}.reason.txt").read_text()
    assert dag.test().state == "success" and "file_rejected" not in capsys.readouterr().out  # reported once


def test_an_xml_template_export_posts_the_same_bills_and_reports_the_same_defects(dag, env, capsys):
    gateway, _sftp, home = env
    invoices = stampli.as_xml(stampli.invoice_export(gateway.store, 6, day=DAY,
                                                     defects=("unknown_account", "missing_value", "bad_amount")))
    stampli.drop(home, invoices, "invoices")

    run = dag.test(run_conf={"invoices_feed": "stampli_to_intacct/invoices_xml_feed"})
    log = capsys.readouterr().out

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    bills = stampli_bills(gateway)
    assert [b[2] for b in bills] == [i["number"] for i in invoices.invoices]
    for (record_no, _vendor, _number, total, _state), expected in zip(bills, invoices.invoices):
        assert round(total, 2) == round(expected["total"], 2)
        assert lines_of(gateway, record_no) == [(a, round(x, 2)) for a, x in expected["lines"]]
    reports = report_rows(home)
    reasons = {row["invoice_number"]: row["Reason"] for row in reports if row["line_no"] == "1"}
    assert set(reasons) == set(invoices.defects)
    assert "GL account '9999' does not exist" in reasons[next(n for n, d in invoices.defects.items()
                                                                if d == "unknown_account")]
    assert all(reason.startswith("row ") for reason in reasons.values())  # the line of the <Line> element
    rejected = [a for a in audits(log) if a["event"] == "row_rejected"]
    assert rejected and all(a["file"] == invoices.name and a["row"] > 1 for a in rejected)
    assert [p.name for p in (home / "outbound" / "archive" / "invoices").iterdir()] == [invoices.name]
