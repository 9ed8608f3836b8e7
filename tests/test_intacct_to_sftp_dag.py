"""intacct_to_sftp end to end with dag.test() against the sandbox Intacct gateway and SFTP server."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.dagrun import asset_events, clear_and_rerun, load_partner_dag
from mlc.operators.audit import parse_audit_line
from mlc.hooks.retry import RetryPolicy
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from tests.edi.validators import bots_errors, x12_envelope_errors

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0,
          "exports": ["vendors", "bills"]}
# The shipped acme profile, taking every document the integration offers.
ACME_EVERY_EXPORT = (REPO / "include" / "partners" / "acme.yaml").read_text().replace(
    "      bills: intacct_to_sftp/bills_x12_810\n",
    "      bills: intacct_to_sftp/bills_x12_810\n      gl_accounts: intacct_to_sftp/gl_accounts_csv\n"
    "      dimensions: intacct_to_sftp/dimensions_csv\n      payments: intacct_to_sftp/payments_csv\n"
    "      deletes: intacct_to_sftp/deletes_csv\n")


@pytest.fixture
def env(sftp_connections, use_connections, mlc_state):
    with IntacctSandbox(seed=Seed(bills=120, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        yield gateway, sftp_connections


@pytest.fixture
def dag(airflow_db, tmp_path):
    assert "deletes_csv" in ACME_EVERY_EXPORT
    return load_partner_dag("intacct_to_sftp__acme", ACME_EVERY_EXPORT, tmp_path / "partners")


def outbound(sftp) -> dict[str, bytes]:
    folder = sftp.home("partner") / "outbound"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def expected_bills(gateway) -> int:
    return gateway.store.select('SELECT COUNT(*) FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
                                ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0][0]


def test_a_run_delivers_valid_files_and_a_second_run_nothing_new(dag, env, capsys):
    gateway, sftp = env
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["extract_gl_accounts"] == "skipped" and states["deliver_gl_accounts"] == "skipped"
    files = outbound(sftp)
    assert sorted(files) == sorted(n for n in files if not n.startswith("."))  # no temporary file left
    x12 = next(data for name, data in files.items() if name.endswith(".x12"))
    assert x12_envelope_errors(x12) == [] and bots_errors(x12, "x12") == []
    assert sum(seg.startswith(b"ST*810*") for seg in x12.split(b"~\n")) == expected_bills(gateway) > 0
    vendors_csv = next(data for name, data in files.items() if name.startswith("MLC_VENDORS_"))
    rows = list(csv.DictReader(io.StringIO(vendors_csv.decode())))
    changed = gateway.store.select('SELECT COUNT(*) FROM "VENDOR" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
                                   ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0][0]
    assert len(rows) == changed
    delivered = [a for a in audits(log) if a["event"] == "file_delivered"]
    assert sorted(a["file"] for a in delivered) == sorted(files)
    assert all(a["run_id"] == run.run_id and len(a["sha256"]) == 64 for a in delivered)
    # Dirty vendors are delivered too: control characters taken out (and said so), a long name cut (and said so).
    dirty_bills = gateway.store.select('SELECT "RECORDNO", "RECORDID", "VENDORNAME" FROM "APBILL" WHERE "VENDORID" '
                                       'LIKE ? AND "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
                                       ["VD%", "2026-11-01 00:00:00", "2026-11-09 00:00:00"])
    assert len(dirty_bills) >= 4
    assert {r[1] for r in dirty_bills} <= {seg.split(b"*")[2].decode() for seg in x12.split(b"~\n")
                                          if seg.startswith(b"BIG*")}
    cleaned = {(a["object"], a["key"]) for a in audits(log) if a["event"] == "record_cleaned"}
    assert {("APBILL", str(r[0])) for r in dirty_bills if re.search("[\x00-\x1f\ufffe]", r[2])} <= cleaned
    cut = [a for a in audits(log) if a["event"] == "value_adjusted" and a["field"] == "parties[1].name"]
    assert cut and {a["key"] for a in cut} == {r[1] for r in dirty_bills if len(r[2]) > 60}

    again = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert again.state == "success"
    skipped = [a for a in audits(log) if a["event"] == "delivery_skipped"]
    assert outbound(sftp) == files  # same window, same bytes: nothing new on the server
    assert sorted(a["reason"] for a in skipped) == ["same records already delivered"] * 2
    assert {ti.task_id: ti.state for ti in again.get_task_instances()}["deliver_bills"] == "skipped"

    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)  # someone saves a bill without changing it
    first = int(gateway.store.select('SELECT MIN("RECORDNO") FROM "APBILL" WHERE "WHENMODIFIED" >= ?',
                                     ["2026-11-01 00:00:00"])[0][0])
    gateway.store.touch("APBILL", [first])
    touched = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    log = capsys.readouterr().out
    assert touched.state == "success" and outbound(sftp) == files  # the partner would see the same invoice
    assert [a["already_sent"] for a in audits(log) if a["event"] == "file_staged"] == [expected_bills(gateway)]

    gateway.store.update("APBILL", first, {"TERMNAME": "Net 45"})  # a real change: the invoice is sent again
    changed = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    assert changed.state == "success"
    new = {name: data for name, data in outbound(sftp).items() if name not in files}
    assert len(new) == 1 and next(iter(new)).endswith(".x12")
    assert next(iter(new.values())).count(b"ST*810*") == 1  # only the changed invoice, not the whole window


def test_dry_run_writes_nothing_to_the_server(dag, env, capsys):
    _gateway, sftp = env
    run = dag.test(run_conf={**WINDOW, "dry_run": True})
    log = capsys.readouterr().out
    assert run.state == "success"
    assert outbound(sftp) == {}
    assert sorted(a["reason"] for a in audits(log) if a["event"] == "delivery_skipped") == ["dry_run", "dry_run"]


def test_a_wrong_host_key_fails_fast_and_writes_nothing(dag, env, capsys):
    _gateway, sftp = env
    sftp.inject("host_key_change", times=None)
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["deliver_bills"] == "failed" and states["render_bills"] == "success"
    assert "server offered ssh-ed25519 SHA256:" in log
    assert outbound(sftp) == {}


def test_intacct_faults_mid_extract_still_give_every_record_once(dag, env, capsys):
    gateway, sftp = env
    gateway.inject("expired_session")
    gateway.inject("rate_limit", times=2)
    gateway.inject("http_5xx", times=1, status=502, body="")
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    assert run.state == "success"
    x12 = next(data for name, data in outbound(sftp).items() if name.endswith(".x12"))
    numbers = [seg.split(b"*")[2] for seg in x12.split(b"~\n") if seg.startswith(b"BIG*")]
    assert len(numbers) == len(set(numbers)) == expected_bills(gateway)


def isa(sender: str, receiver: str, control: int) -> str:
    return (f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{sender:<15}*ZZ*{receiver:<15}*261117*0900*U*00401*"
            f"{control:09d}*0*P*>~")


def test_acks_are_matched_audited_filed_and_a_reject_fails_the_poller(dag, env, capsys):
    _gateway, sftp = env
    assert dag.test(run_conf={**WINDOW, "exports": ["bills"]}).state == "success"
    capsys.readouterr()
    x12 = next(data for name, data in outbound(sftp).items() if name.endswith(".x12")).decode()
    gs06 = x12.split("~\n")[1].split("*")[6]
    acks = sftp.home("partner") / "acks"
    acks.mkdir()
    body = ["GS*FA*ACMESUPPLY*MLCBUYER*20261117*0900*77*X*004010", "ST*997*0001", f"AK1*IN*{gs06}",
            "AK2*810*0001", "AK3*IT1*6**8", "AK4*4*212*7*12.5X", "AK5*R*5", "AK2*810*0002", "AK5*A",
            "AK9*P*2*2*1", "SE*10*0001", "GE*1*77", "IEA*1*000000077"]
    (acks / "997_reject.x12").write_text(isa("ACMESUPPLY", "MLCBUYER", 77) + "\n" + "~\n".join(body) + "~\n")
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["poll_acks"] == "failed"
    assert "set 0001 of outbound/MLC_810_" in log and "rejected (status R, codes 5, IT1@6:8)" in log
    received = [a for a in audits(log) if a["event"] == "ack_received"]
    assert [(a["control_number"], a["outcome"], a["matched"]) for a in received] == [
        ("0001", "rejected", True), ("0002", "accepted", True)]
    assert not (acks / "997_reject.x12").exists() and (acks / "processed" / "997_reject.x12").exists()
    from mlc.state.ledgers import AckLedger, sftp_destination  # what the deliveries page shows for the file

    (answer,) = [f for f in AckLedger().delivered(sftp_destination("sftp_default", "outbound")) if f["ack_file"]]
    assert (answer["ack"], answer["codes"], answer["ack_file"]) == ("rejected", "set 0001: 5, IT1@6:8",
                                                                    "997_reject.x12")
    from mlc.cli import main  # and what `mlc status` prints for it

    capsys.readouterr()
    assert main(["status", "acme"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("ack: rejected (codes set 0001: 5, IT1@6:8)")
    # The run is red, and the rejection waits for a person under Required Actions, as the alert words it.
    assert run.state == "failed" and states["needs_a_person"] == "success" and states["watcher"] == "failed"
    (report,) = [(extra, task) for name, extra, task in asset_events(run.run_id) if name == "mlc_needs_a_person"]
    assert report[1] == "needs_a_person" and report[0]["task_id"] == "needs_a_person"
    (item,) = report[0]["items"]
    assert item["what"].startswith("Task poll_acks failed: AckRejected: ") and "IT1@6:8" in item["what"]
    assert item["do"].startswith("Read the partner's acknowledgment")


def _accepting_997(sender: str, receiver: str, gs06: str, gs_sender: str | None = None) -> str:
    body = [f"GS*FA*{gs_sender or sender}*{receiver}*20261117*0900*78*X*004010", "ST*997*0001", f"AK1*IN*{gs06}",
            "AK9*A*1*1*1", "SE*4*0001", "GE*1*78", "IEA*1*000000078"]
    return isa(sender, receiver, 78) + "\n" + "~\n".join(body) + "~\n"


def test_an_ack_from_another_party_or_folder_matches_nothing_and_is_alerted(dag, env, capsys):
    _gateway, sftp = env
    assert dag.test(run_conf={**WINDOW, "exports": ["bills"]}).state == "success"
    x12 = next(data for name, data in outbound(sftp).items() if name.endswith(".x12")).decode()
    gs06 = x12.split("~\n")[1].split("*")[6]
    acks = sftp.home("partner") / "acks"
    acks.mkdir()
    # Right numbers, wrong partner (another supplier's ISA06); right numbers and parties, with a byte-order mark.
    (acks / "a_other_partner.x12").write_text(_accepting_997("OTHERSUPPLY", "MLCBUYER", gs06))
    (acks / "b_ours.x12").write_bytes(b"\xef\xbb\xbf" + _accepting_997("ACMESUPPLY", "MLCBUYER", gs06).encode())
    capsys.readouterr()

    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})

    log = capsys.readouterr().out
    poll = run.get_task_instance("poll_acks")
    assert poll.state == "success"
    assert poll.xcom_pull(task_ids="poll_acks") | {"destination": None} == {
        "acks": 2, "unmatched": 1, "overdue": 0, "destination": None}
    (alert,) = poll.xcom_pull(task_ids="poll_acks", key="alerts")
    assert alert["what"].startswith("acknowledgment a_other_partner.x12 (group ") and "matches nothing" in alert["what"]
    received = {a["ack_file"]: a for a in audits(log) if a["event"] == "ack_received"}
    assert (received["a_other_partner.x12"]["matched"], received["b_ours.x12"]["matched"]) == (False, True)
    assert received["b_ours.x12"]["outcome"] == "accepted"


def test_a_file_without_its_ack_in_time_is_alerted_once(dag, env, capsys):
    import sqlalchemy as sa

    from mlc.state.schema import DELIVERIES, ensure_tables

    _gateway, sftp = env
    assert dag.test(run_conf={**WINDOW, "exports": ["bills"]}).state == "success"
    engine = ensure_tables()
    with engine.begin() as conn:  # the 810 went out two days ago; its mapping expects a 997 within 24 hours
        conn.execute(DELIVERIES.update().values(delivered_at="2026-12-01T06:00:00+00:00"))
        controls = [row.control for row in conn.execute(sa.select(DELIVERIES.c.control))]
    assert any('"ack_within_hours": 24' in c for c in controls)
    capsys.readouterr()

    first = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    second = dag.test(run_conf={**WINDOW, "exports": ["bills"]})

    log = capsys.readouterr().out
    (alert,) = first.get_task_instance("poll_acks").xcom_pull(task_ids="poll_acks", key="alerts")
    assert alert["what"].startswith("acknowledgment overdue for outbound/MLC_810_")
    assert [a["event"] for a in audits(log)].count("ack_overdue") == 1
    assert second.get_task_instance("poll_acks").xcom_pull(task_ids="poll_acks")["overdue"] == 0
    reports = [extra for name, extra, _task in asset_events(first.run_id) if name == "mlc_needs_a_person"]
    assert [[item["what"] for item in r["items"]] for r in reports] == [[alert["what"]]]  # under Required Actions
    assert [name for name, _extra, _task in asset_events(second.run_id) if name == "mlc_needs_a_person"] == []


    from mlc.cli import main

    assert main(["status", "acme"]) == 0  # the sample profile acme gets its files in sftp_default:outbound
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "acme (ACME Supply): 1 file(s) sent" and len(lines) == 2
    assert lines[1].startswith("  2026-12-01T06:00:00+00:00  sftp://sftp_default/outbound/MLC_810_")
    assert " set(s)  ISA13 " in lines[1] and lines[1].endswith("ack: overdue by 2026-12-02T06:00:00+00:00")


def test_a_dropped_upload_leaves_no_final_file_and_clearing_the_task_delivers_it_once(dag, env, capsys):
    _gateway, sftp = env
    # one try: the hook's own retry would mend the drop before the failure shows
    dag.task_dict["deliver_bills"].hook_kwargs = {"retry": RetryPolicy.configured(attempts=1)}
    sftp.inject("disconnect", times=1)  # the connection drops while the bills file is being written
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["deliver_bills"] == "failed", states
    assert "delivery of MLC_810_" in log and "Nothing was written under the final name" in log
    (failed,) = [a for a in audits(log) if a["event"] == "delivery_failed"]
    assert failed["file"].startswith("MLC_810_") and failed["destination"] == "sftp://sftp_default/outbound"
    assert failed["cause"] and sftp.faults.fired == ["disconnect"]
    assert [n for n in outbound(sftp) if n.endswith(".x12")] == []  # nothing under a final name

    assert clear_and_rerun(run, dag, "deliver_bills") == "success"  # what the UI's Clear does
    log = capsys.readouterr().out
    files = outbound(sftp)
    x12 = [n for n in files if n.endswith(".x12")]
    assert len(x12) == 1 and not [n for n in files if n.endswith(".part")]
    assert x12_envelope_errors(files[x12[0]]) == []
    assert [a["file"] for a in audits(log) if a["event"] == "file_delivered"] == x12

    # and the next run over the same window sends nothing again
    again = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    assert again.state == "success" and outbound(sftp) == files


@pytest.mark.parametrize("mapping, suffix, check", [
    ("intacct_to_sftp/bills_edifact_invoic", ".edi", lambda data: bots_errors(data, "edifact")),
    ("intacct_to_sftp/bills_fixed_width", ".txt", lambda data: sorted({len(line) for line in data.splitlines()})[1:]),
])
def test_the_bills_mapping_is_chosen_through_params(dag, env, mapping, suffix, check):
    gateway, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"], "bills_mapping": mapping})
    assert run.state == "success"
    files = outbound(sftp)
    assert [n.endswith(suffix) for n in files] == [True]
    data = next(iter(files.values()))
    assert check(data) == []
    if suffix == ".edi":
        assert data.count(b"UNH+") == expected_bills(gateway)


def test_vendors_as_x12_838_through_params_carry_every_field_of_the_vendor(dag, env):
    gateway, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["vendors"], "vendors_mapping": "intacct_to_sftp/vendors_x12_838"})
    assert run.state == "success"
    (name, data), = outbound(sftp).items()
    assert name.startswith("MLC_838_") and x12_envelope_errors(data) == [] and bots_errors(data, "x12") == []

    sets: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for segment in data.decode().replace("\n", "").split("~"):
        tag, *elements = segment.split("*")
        if tag == "BTP":
            current = sets.setdefault(elements[1], {})
        if tag in ("BTP", "N1", "N3", "N4", "PER", "CUR", "ITD"):
            current[tag] = elements
    fields = ["VENDORID", "NAME", "TERMNAME", "CURRENCY", "WHENMODIFIED", "DISPLAYCONTACT.CONTACTNAME",
              "DISPLAYCONTACT.EMAIL1", "DISPLAYCONTACT.PHONE1", "DISPLAYCONTACT.MAILADDRESS.ADDRESS1",
              "DISPLAYCONTACT.MAILADDRESS.CITY", "DISPLAYCONTACT.MAILADDRESS.STATE", "DISPLAYCONTACT.MAILADDRESS.ZIP",
              "DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE"]
    vendors = gateway.store.select(f'SELECT {", ".join(chr(34) + f + chr(34) for f in fields)} FROM "VENDOR" '
                                   'WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ? AND "VENDORID" LIKE ?',
                                   ["2026-11-01 00:00:00", "2026-11-09 00:00:00", "V0%"])
    assert vendors and set(sets) >= {v[0] for v in vendors}
    for (vendor_id, name, terms, currency, modified, contact, email, phone, address, city, state, zipcode,
         country) in vendors:
        got = sets[vendor_id]
        assert got["BTP"] == ["00", vendor_id, modified[:10].replace("-", ""), "0000", "VM"]
        assert got["N1"] == ["VN", name, "92", vendor_id]
        assert got["N3"] == [address] and got["N4"] == [city, state, zipcode, country] and country == "US"
        assert got["PER"] == ["IC", contact, "EM", email, "TE", phone] and "@" in email and contact
        assert got["CUR"] == ["VN", currency]
        assert got["ITD"][-1] == terms


def test_a_failed_extract_fails_the_run_although_poll_acks_runs_after_it(dag, env):
    gateway, sftp = env
    gateway.inject("entity_bomb", times=None)  # every answer refused, at once
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["extract_bills"] == "failed" and states["deliver_bills"] == "upstream_failed"
    assert states["poll_acks"] == "success" and states["watcher"] == "failed"
    assert run.state == "failed" and outbound(sftp) == {}
    (report,) = [extra for name, extra, _task in asset_events(run.run_id) if name == "mlc_needs_a_person"]
    assert [item["what"].split(":")[0] for item in report["items"]] == ["Task extract_bills failed"]


def test_a_re_extract_that_finds_changed_data_gets_new_control_numbers_and_a_new_file(dag, env, capsys):
    """Clearing the extract of a run after the data changed: the same ISA13 must never carry other content."""
    gateway, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    assert run.state == "success"
    first = outbound(sftp)
    (name,) = [n for n in first if n.endswith(".x12")]

    # The same records again: already delivered, so nothing is rendered (no control number spent) or sent.
    assert [clear_and_rerun(run, dag, task) for task in ("render_bills", "deliver_bills")] == ["skipped", "skipped"]
    assert outbound(sftp) == first

    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)  # a bill of the window is edited
    gateway.store.update("APBILL", int(gateway.store.select(
        'SELECT MIN("RECORDNO") FROM "APBILL" WHERE "WHENMODIFIED" >= ?', ["2026-11-01 00:00:00"])[0][0]),
        {"TERMNAME": "Net 45"})
    for task in ("extract_bills", "render_bills", "deliver_bills"):
        assert clear_and_rerun(run, dag, task) == "success"
    capsys.readouterr()
    files = outbound(sftp)
    (new_name,) = [n for n in files if n.endswith(".x12") and n != name]
    isa13 = {n: files[n].split(b"~")[0].split(b"*")[13] for n in (name, new_name)}
    assert isa13[name] != isa13[new_name] and files[name] == first[name]


def test_a_reference_list_goes_whole_whenever_it_changed(dag, env, capsys):
    """GL accounts are a list the partner replaces (mapping `records: all`): no per-record filtering."""
    gateway, sftp = env
    assert dag.test(run_conf={**WINDOW, "exports": ["gl_accounts"]}).state == "success"
    first = outbound(sftp)
    gateway.store.update("GLACCOUNT", 1, {"TITLE": "Office Supplies and Paper"})
    later = datetime(2026, 12, 7, 6, tzinfo=timezone.utc)  # the next week's run (its file has its own name)
    assert dag.test(logical_date=later, run_conf={**WINDOW, "exports": ["gl_accounts"]}).state == "success"
    (second,) = [data for name, data in outbound(sftp).items() if name not in first]
    rows = list(csv.DictReader(io.StringIO(second.decode())))
    assert len(rows) == gateway.store.count("GLACCOUNT") == 10


@pytest.mark.parametrize("export", ["vendors", "bills", "gl_accounts", "dimensions", "payments", "deletes"])
def test_every_export_the_form_offers_runs(dag, env, export):
    _gateway, sftp = env
    assert sorted(dag.params.get_param("exports").schema["items"]["enum"]) == sorted([
        "vendors", "bills", "gl_accounts", "dimensions", "payments", "deletes"])

    run = dag.test(run_conf={**WINDOW, "exports": [export]})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states[f"extract_{export}"] == "success" and states[f"render_{export}"] in ("success", "skipped")
    if export != "deletes":  # the sandbox deletes nothing in this window
        prefix = {"vendors": "MLC_VENDORS", "bills": "MLC_810", "gl_accounts": "MLC_GLACCOUNTS",
                  "dimensions": "MLC_DIMENSIONS", "payments": "MLC_PAYMENTS"}[export]
        assert any(name.startswith(prefix) for name in outbound(sftp)), sorted(outbound(sftp))


def test_each_delivery_updates_the_partner_folders_asset_with_what_arrived(dag, env, capsys):
    run = dag.test(run_conf=WINDOW)
    assert run.state == "success"
    log = capsys.readouterr().out.splitlines()
    summaries = [line[line.index("SUMMARY ") + 8:] for line in log if "SUMMARY " in line]
    assert len(summaries) == len([ti for ti in run.get_task_instances() if ti.state == "success"])  # one per task
    assert any(s.startswith("deliver_bills done: MLC_810_") and " records, ISA13 " in s for s in summaries), summaries
    events = asset_events(run.run_id)
    files = outbound(env[1])
    assert sorted((name, task) for name, _extra, task in events) == [
        ("sftp://sftp_default/outbound", "deliver_bills"), ("sftp://sftp_default/outbound", "deliver_vendors")]
    bills = next(extra for _name, extra, task in events if task == "deliver_bills")
    assert bills["file"] in files and bills["sha256"] == hashlib.sha256(files[bills["file"]]).hexdigest()
    assert bills["records"] == expected_bills(env[0]) and bills["control"]["isa13"] == bills["file"].split("_")[-1][:9]
    assert bills["remote_path"] == f"outbound/{bills['file']}" and bills["run_id"] == run.run_id


def test_a_file_the_partner_lost_is_sent_again_by_mlc_resend_not_by_a_clear(dag, env, capsys, tmp_path):
    _gateway, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
    assert run.state == "success"
    (name,) = outbound(sftp)
    sent = outbound(sftp)[name]
    (sftp.home("partner") / "outbound" / name).unlink()  # the partner picked it up and lost it

    assert clear_and_rerun(run, dag, "deliver_bills") == "success"
    log = capsys.readouterr().out
    assert outbound(sftp) == {}  # a clear recognises a file that already reached its folder, as retries must
    assert [a["reason"] for a in audits(log) if a["event"] == "delivery_skipped"] == ["already delivered"]

    resend = load_partner_dag("mlc_resend", ACME_EVERY_EXPORT, tmp_path / "partners")  # the form lists acme's DAG
    assert "intacct_to_sftp__acme" in resend.params.get_param("source_dag_id").schema["enum"]
    blank = resend.test(run_conf={"source_dag_id": dag.dag_id, "source_run_id": run.run_id, "export": "bills",
                                  "reason": "   "})
    assert blank.state == "failed" and outbound(sftp) == {}  # a reason is kept, so one is needed
    again = resend.test(run_conf={"source_dag_id": dag.dag_id, "source_run_id": run.run_id, "export": "bills",
                                  "reason": "ACME lost it (ticket 4711)"})
    log = capsys.readouterr().out
    assert again.state == "success" and outbound(sftp) == {name: sent}  # the very bytes and control numbers
    (resent,) = [a for a in audits(log) if a["event"] == "file_resent"]
    assert (resent["source_run_id"], resent["reason"], resent["remote_dir"]) == (
        run.run_id, "ACME lost it (ticket 4711)", "outbound")
    assert [a["file"] for a in audits(log) if a["event"] == "file_delivered"] == [name]


def test_each_task_reports_what_it_read_and_wrote_to_openlineage(dag, env, tmp_path):
    import subprocess
    import sys
    import time

    # In a process of its own: the OpenLineage provider reads its transport once per process, when it loads.
    events_file = tmp_path / "openlineage.jsonl"
    script = ("import json, sys\n"
              "from tests.dagrun import load_partner_dag\n"
              "from pathlib import Path\n"
              f"dag = load_partner_dag({dag.dag_id!r}, {ACME_EVERY_EXPORT!r}, Path({str(tmp_path / 'ol')!r}))\n"
              f"run = dag.test(run_conf={dict(WINDOW, exports=['bills'])!r})\n"
              "print('STATE', run.state)\n")
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]),
                                "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                                    {"type": "file", "log_file_path": str(events_file), "append": True}),
                                "AIRFLOW__OPENLINEAGE__NAMESPACE": "ml-connector-test"})
    assert "STATE success" in child.stdout, child.stdout[-2000:] + child.stderr[-2000:]

    def completed() -> dict[str, dict]:
        lines = events_file.read_text().splitlines() if events_file.exists() else []
        events = [json.loads(line) for line in lines if line.strip()]
        return {e["job"]["name"].rsplit(".", 1)[-1]: e for e in events if e.get("eventType") == "COMPLETE"}

    deadline = time.monotonic() + 30
    while not {"extract_bills", "render_bills", "deliver_bills"} <= set(completed()) and time.monotonic() < deadline:
        time.sleep(0.5)
    done = completed()
    (staged,) = done["extract_bills"]["outputs"]
    assert [(d["namespace"], d["name"]) for d in done["extract_bills"]["inputs"]] == [
        ("intacct://intacct_default", "APBILL"), ("intacct://intacct_default", "APBILLITEM")]
    assert [d["name"] for d in done["render_bills"]["inputs"]] == [staged["name"]]
    (rendered,) = done["render_bills"]["outputs"]
    assert [d["name"] for d in done["deliver_bills"]["inputs"]] == [rendered["name"]]
    (delivered,) = done["deliver_bills"]["outputs"]
    assert (delivered["namespace"], delivered["name"]) == ("sftp://sftp_default",
                                                           f"outbound/{rendered['name'].rsplit('/', 1)[-1]}")

