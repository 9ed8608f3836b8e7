"""DAGs built from partner profiles: a new profile file is a new partner's DAG that runs; a broken one stands
aside without taking the others down; two Intacct companies; Sterling partners split by vendor, each with its
own document type, mailbox and trading partner fields."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.partner import load_partners, pools
from sandbox.intacct import SECOND_COMPANY_ID, IntacctSandbox
from sandbox.intacct_data import IntacctStore, Seed
from sandbox.sterling import SterlingSandbox
from tests.dagrun import load_dag
from tests.edi.validators import bots_errors

REPO = Path(__file__).resolve().parent.parent
PARTNERS = REPO / "include" / "partners"
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0}
GLOBEX = """\
# Globex takes AP bills as EDIFACT INVOIC in its own folder, Tuesdays at 09:00 New York time.
partner: globex
name: Globex Corporation
integrations:
  intacct_to_sftp:
    folders: {remote_dir: globex/out, acks_dir: globex/acks}
    documents: {bills: intacct_to_sftp/bills_edifact_invoic}
    interchange:
      edifact: {recipient: {qualifier: ZZZ, id: GLOBEXCORP}}
    schedule: {cron: "0 9 * * 2", timezone: America/New_York}
"""


@pytest.fixture
def partners_dir(tmp_path, monkeypatch):
    """A copy of the shipped profiles that a test may add to; the DAG files read it."""
    folder = tmp_path / "partners"
    shutil.copytree(PARTNERS, folder)
    monkeypatch.setenv("MLC_PARTNERS_DIR", str(folder))
    return folder


def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)


def test_the_shipped_profiles_give_each_partner_its_own_dags(partners_dir):
    bag = dag_bag()
    assert bag.import_errors == {}
    assert {d for d in bag.dags if "__" in d} == {
        "intacct_to_sftp__acme", "intacct_to_sftp__northwind", "intacct_to_sterling__sterling_hub",
        "intacct_to_sterling__fresh_farms", "exact_online_to_sftp__warehouse_erp"}
    northwind = bag.dags["intacct_to_sftp__northwind"]
    assert (northwind.timetable.summary, str(northwind.timetable._timezone)) == ("30 7 * * 1,4", "Europe/Amsterdam")
    assert sorted(t.task_id for t in northwind.tasks) == ["deliver_bills", "deliver_vendors", "extract_bills",
                                                          "extract_vendors", "needs_a_person", "poll_acks",
                                                          "render_bills", "render_vendors", "watcher"]
    assert {t.pool for t in northwind.tasks if t.task_id.startswith("extract_")} == {"intacct_west"}
    assert northwind.params["remote_dir"] == "northwind/in"
    assert northwind.params.get_param("exports").schema["items"]["enum"] == ["bills", "vendors"]
    assert "partner:northwind" in northwind.tags and "Northwind Traders" in northwind.doc_md
    # One pool per Intacct company and Exact division the profiles use.
    assert pools(load_partners(partners_dir)) == {
        "exact_online_default": "Exact Online division behind exact_online_default: one caller at a time",
        "intacct_default": "Sage Intacct company behind intacct_default: one caller at a time",
        "intacct_west": "Sage Intacct company behind intacct_west: one caller at a time"}


def test_a_switched_off_partner_has_no_dag_and_a_broken_profile_stands_aside(partners_dir):
    (partners_dir / "acme.yaml").write_text((partners_dir / "acme.yaml").read_text().replace("enabled: true",
                                                                                             "enabled: false"))
    (partners_dir / "initech.yaml").write_text("partner: initech\nintegrations:\n  intacct_to_sftp:\n"
                                               "    documents: {bills: intacct_to_sftp/no_such_mapping}\n")
    bag = dag_bag()

    assert bag.import_errors == {}
    assert "intacct_to_sftp__acme" not in bag.dags and "intacct_to_sftp__northwind" in bag.dags
    stand_in = bag.dags["intacct_to_sftp__initech"]
    assert type(stand_in.timetable).__name__ == "NullTimetable" and [t.task_id for t in stand_in.tasks] == ["profile_error"]
    assert "initech.yaml:4" in stand_in.tasks[0].error and "no_such_mapping" in stand_in.doc_md
    assert "exact_online_to_sftp__initech" not in bag.dags  # it never named that integration


@pytest.mark.integration
def test_a_profile_added_as_a_file_is_found_and_its_dag_runs(partners_dir, sftp_connections, use_connections,
                                                             mlc_state):
    (partners_dir / "globex.yaml").write_text(GLOBEX)
    dag = load_dag("intacct_to_sftp__globex")
    assert dag.params["remote_dir"] == "globex/out" and str(dag.timetable._timezone) == "America/New_York"

    with IntacctSandbox(seed=Seed(bills=40, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        run = dag.test(run_conf=WINDOW)

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    home = sftp_connections.home("partner")
    (name,) = [p.name for p in (home / "globex" / "out").iterdir()]
    data = (home / "globex" / "out" / name).read_bytes()
    assert data.startswith(b"UNA") or data.startswith(b"UNB")
    assert b"+GLOBEXCORP:ZZZ+" in data and bots_errors(data, "edifact") == []
    assert not (home / "outbound").exists()  # acme's folder: another partner's DAG, untouched


@pytest.mark.integration
def test_northwind_reads_the_second_intacct_company(partners_dir, sftp_connections, use_connections, mlc_state):
    dag = load_dag("intacct_to_sftp__northwind")
    west = IntacctStore()
    west.seed(Seed(bills=30, seed=11, anchor=datetime(2026, 11, 16)))
    with IntacctSandbox(seed=Seed(bills=40, anchor=datetime(2026, 11, 16))) as gateway:
        gateway.add_company(SECOND_COMPANY_ID, west)
        use_connections(gateway.connections())
        run = dag.test(run_conf={**WINDOW, "exports": ["bills"]})
        west_bills = west.select('SELECT "RECORDID" FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
                                 ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])
        logins = [r for r in gateway.requests if b"<companyid>" in r.body]

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert logins and all(b"<companyid>MLC-WEST</companyid>" in r.body for r in logins)
    folder = sftp_connections.home("partner") / "northwind" / "in"
    (name,) = [p.name for p in folder.iterdir()]
    lines = (folder / name).read_text().splitlines()
    assert west_bills and all(any(str(rid) in line for line in lines) for (rid,) in west_bills)


@pytest.mark.integration
def test_sterling_partners_split_by_vendor_each_get_their_document_mailbox_and_fields(partners_dir, use_connections,
                                                                                      mlc_state, capsys):
    from mlc.cli import main

    fresh, hub = load_dag("intacct_to_sterling__fresh_farms"), load_dag("intacct_to_sterling__sterling_hub")
    with IntacctSandbox(seed=Seed(bills=80, anchor=datetime(2026, 11, 16))) as gateway, SterlingSandbox() as sterling:
        use_connections({**gateway.connections(), **sterling.connections()})
        bills = gateway.store.select('SELECT "RECORDNO", "VENDORID" FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND '
                                     '"WHENMODIFIED" < ?', ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])
        assert fresh.test(run_conf=WINDOW).state == "success"
        assert hub.test(run_conf=WINDOW).state == "success"
        # Each sync lays the profile's fields over the vendor's again: a re-sync never undoes them.
        again = fresh.test(run_conf={**WINDOW, "force": True})
        messages = [(m["mailboxPath"], m["name"]) for m in sterling.messages.values()
                    if m["mailboxPath"] != "/MLC/Inbound"]
        asked = [r.body for r in gateway.requests if b"<object>APBILL</object>" in r.body]
        partners = dict(sterling.partners)

    assert again.state == "success"
    # fresh_farms asks Intacct for its two vendors' bills only; the hub reads the rest and leaves theirs out
    assert any(b"<in><field>VENDORID</field><value>V00003</value><value>V00004</value></in>" in body
               for body in asked)
    ours = [(no, v) for no, v in bills if v in ("V00003", "V00004")]
    assert ours and len(ours) < len(bills)
    orders = sorted(name for box, name in messages if box.endswith("/Orders"))
    invoices = sorted(name for box, name in messages if box.endswith("/Inbox"))
    assert {box for box, _ in messages if box.endswith("/Orders")} <= {"/V00003/Orders", "/V00004/Orders"}
    assert len(set(orders)) == len(ours) and all(n.startswith("850_") for n in orders)
    assert len(invoices) == len(bills) - len(ours) and all(n.startswith("810_") for n in invoices)
    assert not any(n.split("_")[1] in ("V00003", "V00004") for n in invoices)
    assert {partners[v]["community"] for v in ("V00003", "V00004") if v in partners} == {"Retail Partners"}
    assert all(partners[v]["timeZone"] == "-006" for v in ("V00003", "V00004") if v in partners)
    assert all(p["community"] == "MLC Suppliers" for v, p in partners.items() if v not in ("V00003", "V00004"))
    # mlc status: each profile's documents, in its vendors' mailboxes (fresh_farms' twice: the second run forced).
    capsys.readouterr()
    assert main(["status", "fresh_farms"]) == 0 and main(["status", "sterling_hub"]) == 0
    fresh_lines, hub_lines = capsys.readouterr().out.split("sterling_hub (")
    assert fresh_lines.startswith(f"fresh_farms (Fresh Farms (produce suppliers)): {2 * len(ours)} file(s) sent")
    assert f": {len(bills) - len(ours)} file(s) sent" in hub_lines.splitlines()[0]
    assert all("sterling://sterling_default/V0000" in line and "/Orders/850_" in line
               for line in fresh_lines.splitlines()[1:])
    assert all("/Inbox/810_" in line and "/V00003/" not in line for line in hub_lines.splitlines()[1:])



@pytest.mark.integration
def test_an_exact_profile_reads_the_division_it_names(partners_dir, sftp_connections, use_connections, mlc_state):
    from sandbox.exact import ExactSandbox
    from sandbox.exact_data import ExactSeed

    with ExactSandbox(seed=ExactSeed(invoices=20), window_seconds=1.0) as exact:
        number = exact.division.number
        profile = (partners_dir / "warehouse_erp.yaml").read_text()
        (partners_dir / "warehouse_erp.yaml").write_text(profile.replace(
            "  exact_online_to_sftp:\n", f"  exact_online_to_sftp:\n    division: {number}\n"))
        dag = load_dag("exact_online_to_sftp__warehouse_erp")
        connections = exact.connections()
        del connections["exact_online_default"]["extra"]["division"]  # the connection names none: the profile does
        use_connections(connections)
        run = dag.test(run_conf={**WINDOW, "exports": ["purchase_invoices"]})
        paths = [r.path for r in exact.requests]

    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert {t.pool for t in dag.tasks if t.task_id.startswith("extract_")} == {f"exact_online_default_{number}"}
    assert f"exact_online_default_{number}" in pools(load_partners(partners_dir))
    assert not any("current/Me" in p for p in paths)
    assert any(p.startswith(f"/api/v1/{number}/purchaseentry/") for p in paths)


@pytest.mark.parametrize(("setting", "expected"), [
    ("0 3 * * *", ("CronDataIntervalTimetable", "0 3 * * *", "UTC")),
    ("30 6 * * 1-5 Europe/Amsterdam", ("CronDataIntervalTimetable", "30 6 * * 1-5", "Europe/Amsterdam")),
    ("none", ("NullTimetable", None, None)),
])
def test_a_deployment_sets_any_dags_cadence_without_editing_code(partners_dir, monkeypatch, setting, expected):
    monkeypatch.setenv("MLC_SCHEDULE__INTACCT_TO_SNOWFLAKE", setting)
    monkeypatch.setenv("MLC_SCHEDULE__INTACCT_TO_SFTP__NORTHWIND", setting)  # over the profile's own
    bag = dag_bag()

    for dag_id in ("intacct_to_snowflake", "intacct_to_sftp__northwind"):
        timetable = bag.dags[dag_id].timetable
        zone = getattr(timetable, "_timezone", None)
        assert (type(timetable).__name__, getattr(timetable, "summary", None) if expected[1] else None,
                str(zone) if expected[2] else None) == expected
    assert bag.dags["intacct_to_sftp__acme"].timetable.summary == "0 6 * * 1"  # the others keep theirs
    assert type(bag.dags["stampli_to_intacct"].timetable).__name__ == "CronTriggerTimetable"


def test_a_cadence_that_is_not_a_cron_fails_the_parse_naming_the_variable(partners_dir, monkeypatch):
    monkeypatch.setenv("MLC_SCHEDULE__STAMPLI_TO_INTACCT", "every 15 minutes")
    bag = dag_bag()

    (error,) = [e for path, e in bag.import_errors.items() if path.endswith("stampli_to_intacct.py")]
    assert "MLC_SCHEDULE__STAMPLI_TO_INTACCT='every 15 minutes': not a cron" in error
