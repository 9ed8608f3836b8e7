"""exact_online_to_sftp end to end with dag.test() against the Exact Online sandbox and the SFTP server."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.x12_ack import read_acks
from mlc.operators.audit import parse_audit_line
from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed
from tests.dagrun import load_partner_dag
from tests.edi.validators import bots_errors, x12_envelope_errors

pytestmark = pytest.mark.integration
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0,
          "exports": ["purchase_invoices", "payments"]}
REPO = Path(__file__).resolve().parent.parent
# The shipped warehouse_erp profile, taking every document the integration offers.
ERP_EVERY_EXPORT = (REPO / "include" / "partners" / "warehouse_erp.yaml").read_text().replace(
    "      payments: exact_online_to_sftp/payments_x12_820\n",
    "      payments: exact_online_to_sftp/payments_x12_820\n      suppliers: exact_online_to_sftp/suppliers_csv\n"
    "      gl_accounts: exact_online_to_sftp/gl_accounts_csv\n"
    "      gl_account_mappings: exact_online_to_sftp/gl_account_mappings_csv\n"
    "      cost_centres: exact_online_to_sftp/cost_centres_csv\n      cost_units: exact_online_to_sftp/cost_units_csv\n"
    "      purchase_orders: exact_online_to_sftp/purchase_orders_x12_850\n"
    "      gl_transactions: exact_online_to_sftp/gl_transactions_csv\n      deletes: exact_online_to_sftp/deletes_csv\n")


@pytest.fixture
def env(sftp_connections, use_connections, mlc_state):
    with ExactSandbox(seed=ExactSeed(invoices=90), window_seconds=1.0) as exact:
        use_connections(exact.connections())
        yield exact, sftp_connections


@pytest.fixture
def dag(airflow_db, tmp_path):
    assert "cost_units_csv" in ERP_EVERY_EXPORT
    return load_partner_dag("exact_online_to_sftp__warehouse_erp", ERP_EVERY_EXPORT, tmp_path / "partners")


def inbound(sftp) -> dict[str, bytes]:
    folder = sftp.home("partner") / "inbound"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.exists() else {}


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def in_window(exact, table: str) -> list[dict]:
    low, high = datetime(2026, 11, 1, 1), datetime(2026, 11, 9, 1)  # the UTC window in Amsterdam wall-clock time
    return [r for r in exact.division.tables[table] if low <= r["Modified"] < high]


def test_invoices_and_payments_are_delivered_valid_and_a_rerun_sends_nothing_new(dag, env, capsys):
    exact, sftp = env
    run = dag.test(run_conf=WINDOW)
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states["extract_suppliers"] == "skipped"
    files = inbound(sftp)
    x810 = next(data for name, data in files.items() if name.startswith("EXACT_810_"))
    x820 = next(data for name, data in files.items() if name.startswith("EXACT_820_"))
    for data in (x810, x820):
        assert x12_envelope_errors(data) == [] and bots_errors(data, "x12") == []
    entries = in_window(exact, "entries")
    assert sum(seg.startswith(b"ST*810*") for seg in x810.split(b"~\n")) == len(entries) > 0
    numbers = sorted(seg.split(b"*")[2].decode() for seg in x810.split(b"~\n") if seg.startswith(b"BIG*"))
    assert numbers == sorted(e["YourRef"] for e in entries)
    lines = sum(1 for line in exact.division.tables["lines"] if line["EntryID"] in {e["EntryID"] for e in entries})
    assert sum(seg.startswith(b"IT1*") for seg in x810.split(b"~\n")) == lines
    assert sum(seg.startswith(b"ST*820*") for seg in x820.split(b"~\n")) == len(in_window(exact, "payments")) > 0
    staged = [a for a in audits(log) if a["event"] == "records_staged"]
    assert {a["export"]: a["rate_limited"] for a in staged} == {"purchase_invoices": 0, "payments": 0}

    again = dag.test(run_conf=WINDOW)
    assert again.state == "success" and inbound(sftp) == files


def test_reference_data_as_csv_through_params(dag, env):
    exact, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["suppliers", "gl_account_mappings", "cost_centres"]})
    assert run.state == "success"
    files = inbound(sftp)
    mappings = next(data for name, data in files.items() if name.startswith("EXACT_GLMAPPINGS_"))
    rows = list(csv.DictReader(io.StringIO(mappings.decode())))
    assert sorted(r["account_code"] for r in rows) == sorted(m["GLAccountCode"] for m in exact.division.tables["mappings"])
    suppliers = next(data for name, data in files.items() if name.startswith("EXACT_SUPPLIERS_"))
    codes = [r["supplier_code"] for r in csv.DictReader(io.StringIO(suppliers.decode()))]
    expected = [a["Code"].strip() for a in in_window(exact, "accounts") if a["IsSupplier"]]
    assert sorted(codes) == sorted(expected) and all(not c.startswith(" ") for c in codes)


def test_files_the_erp_has_processed_are_acknowledged_once(dag, env, capsys):
    _exact, sftp = env
    assert dag.test(run_conf={**WINDOW, "exports": ["purchase_invoices"]}).state == "success"
    home = sftp.home("partner")
    (name,) = inbound(sftp)
    (home / "inbound" / "processed").mkdir()
    (home / "inbound" / name).rename(home / "inbound" / "processed" / name)  # the ERP took it
    capsys.readouterr()
    run = dag.test(run_conf={**WINDOW, "exports": ["purchase_invoices"]})
    log = capsys.readouterr().out
    assert run.state == "success"
    (ack,) = (home / "acks").iterdir()
    report = read_acks(ack.read_bytes())
    assert ack.name == f"997_{name[:-4]}.x12" and [g["status"] for g in report["group_acks"]] == ["A"]
    assert [a["file"] for a in audits(log) if a["event"] == "ack_generated"] == [name]
    again = dag.test(run_conf={**WINDOW, "exports": ["purchase_invoices"]})
    assert again.state == "success" and len(list((home / "acks").iterdir())) == 1


@pytest.mark.parametrize("export", ["purchase_invoices", "suppliers", "gl_accounts", "gl_account_mappings", "payments",
                                    "cost_centres", "cost_units", "purchase_orders", "gl_transactions", "deletes"])
def test_every_export_the_form_offers_runs(dag, env, export):
    _exact, sftp = env
    assert sorted(dag.params.get_param("exports").schema["items"]["enum"]) == sorted([
        "purchase_invoices", "suppliers", "gl_accounts", "gl_account_mappings", "payments", "cost_centres",
        "cost_units", "purchase_orders", "gl_transactions", "deletes"])

    run = dag.test(run_conf={**WINDOW, "exports": [export]})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states[f"extract_{export}"] == "success" and states[f"deliver_{export}"] == "success", states
    assert len(inbound(sftp)) == 1


def test_orders_gl_lines_and_deletions_come_out_as_exact_has_them(dag, env):
    exact, sftp = env
    run = dag.test(run_conf={**WINDOW, "exports": ["purchase_orders", "gl_transactions", "deletes"]})
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    files = inbound(sftp)

    (orders,) = [data for name, data in files.items() if name.startswith("EXACT_850_")]
    assert x12_envelope_errors(orders) == [] and bots_errors(orders, "x12") == []
    expected = sorted(str(o["OrderNumber"]) for o in in_window(exact, "orders"))
    segments = orders.decode().replace("\n", "").split("~")
    assert expected and sorted(s.split("*")[3] for s in segments if s.startswith("BEG*")) == expected
    lines = sum(1 for o in in_window(exact, "orders") for line in exact.division.tables["order_lines"]
                if line["PurchaseOrderID"] == o["PurchaseOrderID"])
    assert sum(s.startswith("PO1*") for s in segments) == lines

    (gl,) = [data for name, data in files.items() if name.startswith("EXACT_GL_LINES_")]
    rows = list(csv.DictReader(io.StringIO(gl.decode())))
    assert sorted(r["line_id"] for r in rows) == sorted(t["ID"] for t in in_window(exact, "transactions"))
    assert abs(sum(float(r["amount"]) for r in rows)) < 0.005  # each purchase entry's lines balance

    (deleted,) = [data for name, data in files.items() if name.startswith("EXACT_DELETES_")]
    rows = list(csv.DictReader(io.StringIO(deleted.decode())))
    assert sorted((r["entity"], r["key"]) for r in rows) == sorted(
        ({1: "transaction line", 2: "account"}[d["EntityType"]], d["EntityKey"]) for d in exact.division.tables["deleted"])
