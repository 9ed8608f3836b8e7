"""intacct_to_sterling and sterling_mailbox_poll with dag.test() against the Intacct, Sterling and SFTP sandboxes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.dagrun import asset_events, clear_and_rerun, load_dag, load_partner_dag
from mlc.operators.audit import parse_audit_line
from mlc.hooks.retry import RetryPolicy
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from sandbox.sterling import SterlingSandbox
from tests.edi.validators import bots_errors, x12_envelope_errors

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0}


@pytest.fixture
def env(sftp_connections, use_connections, mlc_state):
    with IntacctSandbox(seed=Seed(bills=60, anchor=datetime(2026, 11, 16))) as gateway, SterlingSandbox() as sterling:
        use_connections({**gateway.connections(), **sterling.connections()})
        yield gateway, sterling, sftp_connections


@pytest.fixture
def dag(airflow_db, tmp_path):
    """The hub's DAG with the hub as the only profile: it serves every vendor (tests/test_partner_dags.py splits
    them with fresh_farms)."""
    profile = (REPO / "include" / "partners" / "sterling_hub.yaml").read_text()
    return load_partner_dag("intacct_to_sterling__sterling_hub", profile, tmp_path / "partners")


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def window_bills(gateway) -> list[tuple[str, str, str]]:
    return gateway.store.select('SELECT "RECORDNO", "VENDORID", "RECORDID" FROM "APBILL" WHERE "WHENMODIFIED" >= ? '
                                'AND "WHENMODIFIED" < ?', ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])


def uploaded(sterling) -> dict[str, bytes]:
    return {f"{m['mailboxPath']}/{m['name']}": sterling.documents[m["documentId"]]
            for m in sterling.messages.values() if m["mailboxPath"] != "/MLC/Inbound"}


def test_partners_then_documents_in_their_mailboxes_and_a_rerun_duplicates_nothing(dag, env, capsys):
    gateway, sterling, _sftp = env
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    bills = window_bills(gateway)
    assert bills and {v for _, v, _ in bills} <= set(sterling.partners)  # every bill's vendor is a partner
    docs = uploaded(sterling)
    assert len(docs) == len(bills)
    for record_no, vendor, number in bills:
        (path,) = [p for p in docs if p.startswith(f"/{vendor}/Inbox/810_{vendor}_{record_no}_")]
        data = docs[path]
        assert x12_envelope_errors(data) == [] and bots_errors(data, "x12") == []
        assert b"BIG*" in data and f"*{number}*".encode() in data
    synced = [a for a in audits(log) if a["event"] == "partner_synced"]
    assert {a["status"] for a in synced} == {"created"} and all(a["partner"] for a in synced)
    assert len([a for a in audits(log) if a["event"] == "document_uploaded" and a["message_id"]]) == len(bills)
    events = asset_events(run.run_id)  # each vendor's mailbox asset: one event per document it got
    assert sorted(name for name, _extra, _task in events) == sorted(
        f"sterling://sterling_default/{vendor}/Inbox" for _r, vendor, _n in bills)
    assert all(extra["records"] == 1 and f"{extra['mailbox']}/{extra['file']}" in docs for _n, extra, _t in events)

    vendor = next(iter(sterling.partners))
    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)  # the vendor's phone changes in Intacct
    record = gateway.store.one("VENDOR", "VENDORID", vendor)
    gateway.store.update("VENDOR", record["RECORDNO"], {"DISPLAYCONTACT.PHONE1": "555-0199"})
    again = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert again.state == "success"
    statuses = {a["vendor"]: a["status"] for a in audits(log) if a["event"] == "partner_synced"}
    assert statuses[vendor] == "updated" and sterling.partners[vendor]["phone"] == "555-0199"
    assert len(sterling.partners) == len(set(sterling.partners))  # updated, not duplicated
    assert uploaded(sterling) == docs  # the same bills are not sent twice


def test_a_5xx_in_the_middle_then_a_clear_sends_each_document_once(dag, env, capsys):
    gateway, sterling, _sftp = env
    dag.task_dict["upload_bills"].hook_kwargs = {"retry": RetryPolicy.configured(attempts=2)}
    bills = sorted(window_bills(gateway))
    record_no, vendor, _ = bills[len(bills) // 2]  # Sterling fails on one upload in the middle of the batch
    sterling.inject("http_5xx", times=None, status=503, body="", body_contains=f"810_{vendor}_{record_no}_")
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["upload_bills"] == "failed"
    assert "document(s) not uploaded" in log and "clearing this task sends only the missing ones" in log
    assert len(uploaded(sterling)) == len(bills) - 1
    sterling.clear_faults()

    assert clear_and_rerun(run, dag, "upload_bills") == "success"  # what the UI's Clear does
    docs = uploaded(sterling)
    assert len(docs) == len(bills)
    assert sorted(p.rsplit("_", 1)[0] for p in docs) == sorted(
        f"/{v}/Inbox/810_{v}_{r}" for r, v, _ in bills)  # each bill exactly once


def test_polling_hands_each_inbound_message_on_once(env, airflow_db, capsys):
    _gateway, sterling, sftp = env
    poll = load_dag("sterling_mailbox_poll")
    assert poll.test().state == "success"
    folder = sftp.home("partner") / "from_sterling"
    first = sorted(p.name for p in folder.iterdir())
    assert len(first) == 3 and all(n.endswith(".x12") for n in first)
    assert poll.test().state == "success"  # nothing new: skipped, nothing handed on twice
    assert sorted(p.name for p in folder.iterdir()) == first
    sterling.deliver("/MLC/Inbound", "855_0001.x12", b"ISA*new~")
    capsys.readouterr()
    assert poll.test().state == "success"
    log = capsys.readouterr().out
    assert len(list(folder.iterdir())) == 4
    assert [a["message_name"] for a in audits(log) if a["event"] == "message_extracted"] == ["855_0001.x12"]


def test_a_partner_sterling_refuses_is_reported_and_a_blank_delete_is_never_sent(env, use_connections):
    _gateway, sterling, _sftp = env
    from mlc.hooks.sterling import SterlingHook, SterlingNotFound

    hook = SterlingHook()
    with pytest.raises(SterlingNotFound, match="Community Nowhere not found"):
        hook.upsert_partner({"partnerName": "V9", "code": "V9", "community": "Nowhere", "authenticationType": "Local",
                             "emailAddress": "a@b.c", "phone": "1", "givenName": "A", "surname": "B", "username": "v9"})
    with pytest.raises(ValueError, match="without an id"):
        hook.delete("tradingpartners", " ")
    assert not any(r.method == "DELETE" for r in sterling.requests)


def test_a_new_partners_mailbox_is_created_and_a_create_whose_answer_was_lost_counts_as_created(dag, env, capsys):
    """B2Bi gives a new partner only /<partner>: the Inbox is created before the first document. A partner create
    whose answer is lost is sent again, meets "already exists", and is the create that worked."""
    gateway, sterling, _sftp = env
    sterling.inject("answer_lost", times=1, body_contains='"partnerName"')

    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert sterling.faults.fired == ["answer_lost"]
    assert not [a for a in audits(log) if a["event"] == "partner_rejected"]
    vendors = {v for _, v, _ in window_bills(gateway)}
    assert {a["vendor"] for a in audits(log) if a["event"] == "partner_synced" and a["status"] == "created"} >= vendors
    assert {a["mailbox"] for a in audits(log) if a["event"] == "mailbox_created"} == {f"/{v}/Inbox" for v in vendors}
    assert len(uploaded(sterling)) == len(window_bills(gateway))


def test_a_vendor_that_cannot_be_a_partner_holds_its_bills_back_fails_the_run_and_goes_after_a_fix(dag, env, capsys):
    gateway, sterling, _sftp = env
    bills = window_bills(gateway)
    broken = bills[0][1]
    record = gateway.store.one("VENDOR", "VENDORID", broken)
    gateway.store.update("VENDOR", record["RECORDNO"], {"DISPLAYCONTACT.EMAIL1": ""})

    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}

    assert run.state == "failed" and states["sync_partners"] == "failed" and states["upload_bills"] == "failed"
    held = [b for b in bills if b[1] == broken]
    pending = [a for a in audits(log) if a["event"] == "document_pending"]
    assert sorted(a["recordno"] for a in pending) == sorted(str(b[0]) for b in held)
    assert len(uploaded(sterling)) == len(bills) - len(held)  # the others went
    assert f"trading partner(s) could not be created or updated: {broken}" in log

    gateway.store.update("VENDOR", record["RECORDNO"], {"DISPLAYCONTACT.EMAIL1": "ap@fixed.example"})
    assert clear_and_rerun(run, dag, "sync_partners") == "success"
    assert clear_and_rerun(run, dag, "upload_bills") == "success"
    docs = uploaded(sterling)
    assert len(docs) == len(bills) and len({p.rsplit("_", 1)[0] for p in docs}) == len(bills)  # each once


def test_a_scheduled_run_moves_the_marks_of_what_it_delivered(dag, env):
    from datetime import timezone

    from mlc.state.progress import Watermarks, watermark_scope

    run = dag.test(logical_date=datetime(2026, 11, 9, 4, tzinfo=timezone.utc), run_conf={"window_start": None,
                                                                                          "window_end": None})
    assert run.state == "success"
    end = datetime(2026, 11, 9, 4, tzinfo=timezone.utc)  # the daily interval that ends at this run
    for export in ("vendors", "bills"):
        assert Watermarks().get(watermark_scope("intacct_to_sterling__sterling_hub", export, "intacct_default")) == end


def test_a_vendor_waived_on_purpose_lets_the_run_go_green_without_its_bills(dag, env, capsys):
    gateway, sterling, _sftp = env
    bills = window_bills(gateway)
    broken = bills[0][1]
    record = gateway.store.one("VENDOR", "VENDORID", broken)
    gateway.store.update("VENDOR", record["RECORDNO"], {"DISPLAYCONTACT.EMAIL1": ""})

    run = dag.test(run_conf={**WINDOW, "waive": [broken]})
    log = capsys.readouterr().out

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert [a["vendor"] for a in audits(log) if a["event"] == "partner_waived"] == [broken]
    held = sorted(str(b[0]) for b in bills if b[1] == broken)
    assert sorted(a["recordno"] for a in audits(log) if a["event"] == "record_waived") == held
    assert len(uploaded(sterling)) == len(bills) - len(held)


def test_the_850_the_form_offers_runs_and_uploads_purchase_orders(dag, env):
    gateway, sterling, _sftp = env
    assert dag.params.get_param("bills_mapping").schema["enum"] == [
        "intacct_to_sterling/bills_x12_810", "intacct_to_sterling/bills_x12_850"]

    run = dag.test(run_conf={**WINDOW, "bills_mapping": "intacct_to_sterling/bills_x12_850"})

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    docs = uploaded(sterling)
    assert len(docs) == len(window_bills(gateway)) > 0
    assert all(b"ST*850*" in data and b"ST*810*" not in data and x12_envelope_errors(data) == [] for data in docs.values())


def test_polling_can_hand_messages_on_to_a_local_folder(env, airflow_db, tmp_path):
    poll = load_dag("sterling_mailbox_poll")
    assert poll.params.get_param("handoff").schema["enum"] == ["sftp", "local"]

    run = poll.test(run_conf={"handoff": "local", "handoff_dir": str(tmp_path / "handed_on")})

    assert run.state == "success"
    names = sorted(p.name for p in (tmp_path / "handed_on").iterdir())
    assert len(names) == 3 and all(n.endswith(".x12") for n in names)
