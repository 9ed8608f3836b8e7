"""intacct_to_snowflake with dag.test() against the Intacct sandbox and fakesnow's server."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from mlc.operators.audit import parse_audit_line
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from sandbox.snowflake import SnowflakeSandbox
from tests.dagrun import asset_events, load_dag

pytestmark = pytest.mark.integration
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0}


@pytest.fixture
def env(use_connections, mlc_state, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # fakesnow leaves a folder per process in TMPDIR
    database = f"MLC_{uuid.uuid4().hex[:8].upper()}"  # fakesnow keeps its databases for the whole process
    with IntacctSandbox(seed=Seed(bills=60, anchor=datetime(2026, 11, 16))) as gateway, \
            SnowflakeSandbox(database=database) as snow:
        use_connections({**gateway.connections(), **snow.connections()})
        yield gateway, snow


@pytest.fixture
def dag(airflow_db):
    return load_dag("intacct_to_snowflake")


def query(sql: str) -> list[tuple]:
    from mlc.hooks.snowflake import MlcSnowflakeHook

    return MlcSnowflakeHook().get_records(sql)


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def in_window(gateway, obj: str) -> int:
    return gateway.store.select(f'SELECT COUNT(*) FROM "{obj}" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
                                ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0][0]


def test_first_load_then_changes_then_a_replay_that_changes_nothing(dag, env, capsys):
    gateway, _snow = env
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    bills = in_window(gateway, "APBILL")
    assert query("SELECT COUNT(*), COUNT(DISTINCT recordno) FROM ap_bill") == [(bills, bills)]
    lines = gateway.store.select('SELECT COUNT(*) FROM "APBILLITEM" i JOIN "APBILL" b ON b."RECORDNO" = i."RECORDKEY" '
                                 'WHERE b."WHENMODIFIED" >= ? AND b."WHENMODIFIED" < ?',
                                 ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0][0]
    assert query("SELECT COUNT(*) FROM ap_bill_item") == [(lines,)]
    assert query("SELECT COUNT(*) FROM department") == [(5,)] and query("SELECT COUNT(*) FROM gl_account") == [(10,)]
    record_no, total = gateway.store.select('SELECT "RECORDNO", "TOTALENTERED" FROM "APBILL" WHERE "WHENMODIFIED" >= ? '
                                            'ORDER BY "RECORDNO" LIMIT 1', ["2026-11-01 00:00:00"])[0]
    row = query(f"SELECT totalentered, _raw:VENDORID::VARCHAR, _deleted FROM ap_bill WHERE recordno = {record_no}")[0]
    assert float(row[0]) == round(total, 2) and row[1] and row[2] is False
    loaded = {a["table"]: a for a in audits(log) if a["event"] == "table_loaded"}
    assert loaded["ap_bill"]["inserted"] == bills and loaded["ap_bill"]["updated"] == 0
    events = {name: extra for name, extra, _task in asset_events(run.run_id)}  # each table's asset
    assert set(events) == {f"snowflake://snowflake_default/{table}" for table in loaded}
    assert events["snowflake://snowflake_default/ap_bill"]["inserted"] == bills
    # a constant, whatever the number of rows; a child table (bill lines) also stages its parents' keys (4 more)
    assert all(a["statements"] <= (12 if name in ("ap_bill_item", "ap_payment_detail") else 8)
               for name, a in loaded.items())

    # a bill changes and a new one appears inside the window
    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)
    gateway.store.update("APBILL", record_no, {"DESCRIPTION": "changed in Intacct"})
    again = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert again.state == "success"
    loaded = {a["table"]: a for a in audits(log) if a["event"] == "table_loaded"}
    assert (loaded["ap_bill"]["inserted"], loaded["ap_bill"]["updated"]) == (0, 1)
    assert query(f"SELECT description FROM ap_bill WHERE recordno = {record_no}") == [("changed in Intacct",)]
    assert query("SELECT COUNT(*), COUNT(DISTINCT recordno) FROM ap_bill") == [(bills, bills)]

    replay = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    assert replay.state == "success"
    loaded = {a["table"]: a for a in audits(log) if a["event"] == "table_loaded"}
    assert all((a["inserted"], a["updated"]) == (0, 0) for a in loaded.values()), loaded


def test_a_failure_between_load_and_merge_leaves_the_tables_as_they_were(dag, env, monkeypatch):
    gateway, _snow = env
    assert dag.test(run_conf={**WINDOW, "tables": ["vendor", "ap_bill"]}).state == "success"
    before = query("SELECT recordno, description, _synced_at FROM ap_bill ORDER BY recordno")
    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)
    first = before[0][0]
    gateway.store.update("APBILL", first, {"DESCRIPTION": "should not land"})
    import mlc.operators.snowflake_load as load

    real = load.merge_sql
    monkeypatch.setattr(load, "merge_sql", lambda spec, *a: real(spec, *a) if spec.name != "vendor"
                        else "MERGE INTO nowhere_at_all t USING x s ON 1 = 1")  # fails after ap_bill's MERGE ran
    run = dag.test(run_conf={**WINDOW, "tables": ["ap_bill", "vendor"]})
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["load_snowflake"] == "failed"
    assert query("SELECT recordno, description, _synced_at FROM ap_bill ORDER BY recordno") == before


def test_a_new_source_field_is_added_or_refused_by_configuration(dag, env, capsys):
    _gateway, _snow = env
    assert dag.test(run_conf={**WINDOW, "tables": ["ap_bill"]}).state == "success"  # the table as first created
    conf = {**WINDOW, "tables": ["ap_bill"], "extra_fields": {"APBILL": ["RECORDTYPE"]}}  # a field the customer adds
    refused = dag.test(run_conf={**conf, "new_fields": "refuse"})
    log = capsys.readouterr().out
    assert {ti.task_id: ti.state for ti in refused.get_task_instances()}["load_snowflake"] == "failed"
    assert "table ap_bill: Intacct now sends field(s) RECORDTYPE that have no column" in log
    added = dag.test(run_conf={**conf, "new_fields": "add"})
    log = capsys.readouterr().out
    assert added.state == "success"
    assert [a["columns"] for a in audits(log) if a["event"] == "columns_added"] == [["recordtype"]]
    assert query("SELECT DISTINCT recordtype FROM ap_bill") == [("apbill",)]


def test_deletions_from_audithistory_and_a_full_refresh_mark_rows_deleted(dag, env):
    gateway, _snow = env
    assert dag.test(run_conf={**WINDOW, "tables": ["vendor", "ap_bill", "ap_bill_item"]}).state == "success"
    gone = query("SELECT MIN(recordno) FROM ap_bill")[0][0]
    gateway.store.clock = lambda: datetime(2026, 11, 6, 9, 0, 0)
    gateway.store.delete("APBILL", int(gone))
    run = dag.test(run_conf={**WINDOW, "tables": ["ap_bill", "ap_bill_item"], "capture_deletes": True})
    assert run.state == "success"
    assert query(f"SELECT _deleted FROM ap_bill WHERE recordno = {gone}") == [(True,)]
    assert query(f"SELECT COUNT(*) FROM ap_bill_item WHERE recordkey = {gone} AND NOT _deleted") == [(0,)]
    assert query("SELECT COUNT(*) FROM ap_bill WHERE _deleted") == [(1,)]

    gone_too = query("SELECT MAX(recordno) FROM ap_bill")[0][0]
    gateway.store.delete("APBILL", int(gone_too))  # deleted; its deletion not read (capture_deletes off)
    full = dag.test(run_conf={**WINDOW, "tables": ["ap_bill"], "full_refresh": "ap_bill"})
    assert full.state == "success"
    assert query(f"SELECT _deleted FROM ap_bill WHERE recordno = {gone_too}") == [(True,)]
    every = gateway.store.count("APBILL")
    assert query("SELECT COUNT(*) FROM ap_bill WHERE NOT _deleted") == [(every,)]  # the whole table, not the window


def test_the_merge_through_the_sql_api_with_a_429_and_a_slow_statement(dag, env, use_connections, capsys):
    from sandbox.snowflake_sqlapi import SnowflakeSqlApiSandbox

    gateway, snow = env
    with SnowflakeSqlApiSandbox(snow) as api:
        use_connections(snow.connections())  # now with sql_api_url
        dag.task_dict["load_snowflake"].sql_api_kwargs = {"poll_interval": 0.1}
        api.inject("rate_limit", times=2)
        api.inject("slow_statement", times=1, polls=3)
        run = dag.test(run_conf={**WINDOW, "tables": ["vendor", "ap_bill"], "merge_via": "sql_api"})
        log = capsys.readouterr().out
        assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert api.faults.armed() == []  # the 429s and the slow statement were met
        assert sum(sql.startswith("MERGE INTO ap_bill ") for sql in api.executed) == 1  # a 429 is not a second MERGE
        assert [r.headers.get("x-snowflake-authorization-token-type") for r in api.requests][:1] == ["KEYPAIR_JWT"]
    bills = in_window(gateway, "APBILL")
    assert query("SELECT COUNT(*) FROM ap_bill") == [(bills,)]
    loaded = {a["table"]: a for a in audits(log) if a["event"] == "table_loaded"}
    assert loaded["ap_bill"]["inserted"] == bills
    assert query("SELECT COUNT(*) FROM information_schema.tables WHERE table_name LIKE 'MLC_STG_%'") == [(0,)]


def test_a_window_with_nothing_changed_loads_nothing_and_succeeds(dag, env, capsys):
    run = dag.test(run_conf={"window_start": "2025-01-01T00:00:00Z", "window_end": "2025-01-02T00:00:00Z",
                             "tables": ["vendor", "ap_bill", "ap_bill_item"]})
    log = capsys.readouterr().out
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    loaded = {a["table"]: a for a in audits(log) if a["event"] == "table_loaded"}
    assert {t: (a["rows_staged"], a["inserted"], a["updated"]) for t, a in loaded.items()} == {
        "vendor": (0, 0, 0), "ap_bill": (0, 0, 0), "ap_bill_item": (0, 0, 0)}
    assert query("SELECT COUNT(*) FROM ap_bill") == [(0,)]


def test_a_line_removed_in_intacct_is_marked_deleted_and_payments_bring_the_bills_they_pay(dag, env, capsys):
    gateway, _snow = env
    conf = {**WINDOW, "tables": ["ap_bill", "ap_bill_item", "ap_payment", "ap_payment_detail"]}
    assert dag.test(run_conf=conf).state == "success"
    details = gateway.store.select('SELECT COUNT(*) FROM "APPYMTDETAIL" d JOIN "APPYMT" p ON p."RECORDNO" = '
                                   'd."PAYMENTKEY" WHERE p."WHENMODIFIED" >= ? AND p."WHENMODIFIED" < ?',
                                   ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0][0]
    assert details and query("SELECT COUNT(*) FROM ap_payment_detail WHERE NOT _deleted") == [(details,)]
    assert query("SELECT COUNT(*) FROM ap_payment_detail d LEFT JOIN ap_bill b ON b.recordno = d.recordkey "
                 "WHERE b.recordno IS NULL") == [(0,)]  # each application names a bill of the load

    bill, line = gateway.store.select(
        'SELECT i."RECORDKEY", MAX(i."RECORDNO") FROM "APBILLITEM" i JOIN "APBILL" b ON b."RECORDNO" = i."RECORDKEY" '
        'WHERE b."WHENMODIFIED" >= ? AND b."WHENMODIFIED" < ? GROUP BY i."RECORDKEY" HAVING COUNT(*) > 1 LIMIT 1',
        ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])[0]
    gateway.store.delete("APBILLITEM", int(line))  # someone removes a line of the bill in Intacct
    gateway.store.clock = lambda: datetime(2026, 11, 5, 12, 0, 0)
    gateway.store.touch("APBILL", [int(bill)])
    capsys.readouterr()

    assert dag.test(run_conf=conf).state == "success"

    assert query(f"SELECT recordno, _deleted FROM ap_bill_item WHERE recordkey = {bill} ORDER BY recordno")[-1] == \
        (line, True)
    remaining = gateway.store.select('SELECT "RECORDNO" FROM "APBILLITEM" WHERE "RECORDKEY" = ?', [bill])
    assert query(f"SELECT recordno FROM ap_bill_item WHERE recordkey = {bill} AND NOT _deleted ORDER BY recordno") \
        == [(r[0],) for r in sorted(remaining)]
    assert query("SELECT COUNT(*) FROM ap_bill_item WHERE _deleted") == [(1,)]  # no other bill's line was touched


def test_a_scheduled_load_moves_the_mark_of_every_export_it_loaded(dag, env):
    from datetime import timezone

    from mlc.state.progress import Watermarks, watermark_scope

    run = dag.test(logical_date=datetime(2026, 11, 9, 2, tzinfo=timezone.utc), run_conf={"window_start": None,
                                                                                          "window_end": None})
    assert run.state == "success"
    end = datetime(2026, 11, 9, 2, tzinfo=timezone.utc)
    for export in ("vendors", "bills", "payments"):
        assert Watermarks().get(watermark_scope("intacct_to_snowflake", export, "intacct_default")) == end
