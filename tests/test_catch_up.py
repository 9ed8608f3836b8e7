"""Nothing lost, nothing twice, nothing left behind in silence: watermarks catch up missed runs, the per-record
ledger keeps overlapping runs from sending a record twice, and a record that cannot go keeps the run red until
it goes or is waived. intacct_to_sftp with dag.test() against the Intacct and SFTP sandboxes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from mlc.operators.audit import parse_audit_line
from mlc.state.progress import Watermarks, watermark_scope
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from tests.dagrun import clear_and_rerun, load_dag

pytestmark = pytest.mark.integration
SCOPE = watermark_scope("intacct_to_sftp__acme", "bills", "intacct_default")
# The schedule is Mondays 06:00 UTC; a run started for this moment reads the week before it: [Oct 26, Nov 2).
MONDAY = datetime(2026, 11, 2, 6, tzinfo=timezone.utc)


@pytest.fixture
def env(sftp_connections, use_connections, mlc_state):
    with IntacctSandbox(seed=Seed(bills=150, anchor=datetime(2026, 11, 16))) as gateway:
        use_connections(gateway.connections())
        yield gateway, sftp_connections


@pytest.fixture
def dag(airflow_db):
    return load_dag("intacct_to_sftp__acme")


def audits(text: str) -> list[dict]:
    return [a for a in map(parse_audit_line, text.splitlines()) if a]


def delivered_invoices(sftp) -> list[str]:
    """Every BIG02 (invoice number) in every 810 file on the partner's server, repeats included."""
    folder = sftp.home("partner") / "outbound"
    return [m.group(1).decode() for p in sorted(folder.glob("*.x12")) for m in re.finditer(rb"BIG\*\d{8}\*([^*~]+)",
                                                                                         p.read_bytes())]


def changed_between(gateway, start: str, end: str) -> list[str]:
    return [r[0] for r in gateway.store.select('SELECT "RECORDID" FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND '
                                               '"WHENMODIFIED" < ?', [start, end])]


def test_a_scheduler_down_for_three_weeks_loses_nothing_the_next_run_catches_up(dag, env, capsys):
    gateway, sftp = env
    first = dag.test(logical_date=MONDAY, run_conf={"exports": ["bills"]})
    assert first.state == "success"
    assert Watermarks().get(SCOPE) == datetime(2026, 11, 2, 6, tzinfo=timezone.utc)  # the end of its interval
    capsys.readouterr()

    # The runs of Nov 9 and 16 never happened (the scheduler was down); then the run for Nov 23 starts.
    late = dag.test(logical_date=datetime(2026, 11, 23, 6, tzinfo=timezone.utc), run_conf={"exports": ["bills"]})
    log = capsys.readouterr().out

    assert late.state == "success"
    (catching_up,) = [a for a in audits(log) if a["event"] == "catching_up"]
    assert catching_up["mark"].startswith("2026-11-02T06:00:00")
    expected = changed_between(gateway, "2026-10-26 05:45:00", "2026-11-23 06:00:00")
    invoices = delivered_invoices(sftp)
    assert sorted(invoices) == sorted(expected), "every bill once: 0 lost, 0 duplicated"
    assert Watermarks().get(SCOPE) == datetime(2026, 11, 23, 6, tzinfo=timezone.utc)


def test_overlapping_runs_send_no_record_twice_and_a_run_without_interval_reads_from_the_mark(dag, env, capsys):
    gateway, sftp = env
    assert dag.test(logical_date=MONDAY, run_conf={"exports": ["bills"]}).state == "success"
    capsys.readouterr()
    # A person re-sends an overlapping period through Params: the records already sent pass by.
    resend = dag.test(run_conf={"exports": ["bills"], "window_start": "2026-10-30T00:00:00Z",
                                "window_end": "2026-11-06T00:00:00Z", "overlap_minutes": 0})
    log = capsys.readouterr().out
    assert resend.state == "success"
    assert Watermarks().get(SCOPE) == datetime(2026, 11, 2, 6, tzinfo=timezone.utc), "a Params window moves no mark"
    (staged,) = [a for a in audits(log) if a["event"] == "file_staged"]
    assert staged["already_sent"] == len(changed_between(gateway, "2026-10-30 00:00:00", "2026-11-02 06:00:00")) > 0
    invoices = delivered_invoices(sftp)
    assert len(invoices) == len(set(invoices))

    # A run started from the UI or the REST API has no data interval: it reads from the mark, not "the last 7 days".
    manual = dag.test(run_conf={"exports": ["bills"], "window_start": None, "window_end": None})
    assert manual.state == "success"
    invoices = delivered_invoices(sftp)
    assert len(invoices) == len(set(invoices)) and set(invoices) >= set(
        changed_between(gateway, "2026-10-26 06:00:00", "2026-11-17 00:00:00"))


def test_a_record_that_cannot_go_keeps_runs_red_and_the_mark_still_until_it_goes_or_is_waived(dag, env, capsys):
    gateway, sftp = env
    bad = int(gateway.store.select('SELECT MIN("RECORDNO") FROM "APBILL" WHERE "WHENMODIFIED" >= ?',
                                   ["2026-10-27 00:00:00"])[0][0])
    gateway.store.update("APBILL", bad, {"RECORDID": "INV-" + "9" * 30, "WHENMODIFIED": "2026-10-27 10:00:00"})

    run = dag.test(logical_date=MONDAY, run_conf={"exports": ["bills"]})
    log = capsys.readouterr().out
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}

    assert run.state == "failed" and states["deliver_bills"] == "failed" and states["render_bills"] == "success"
    assert f"INV-{'9' * 30}: number:" in log and "were not delivered" in log
    good = [i for i in changed_between(gateway, "2026-10-26 05:45:00", "2026-11-02 06:00:00") if "9" * 30 not in i]
    assert sorted(delivered_invoices(sftp)) == sorted(good), "the others went"
    assert Watermarks().get(SCOPE) == MONDAY - timedelta(days=7), "the mark stays at the window's start"

    again = dag.test(logical_date=datetime(2026, 11, 9, 6, tzinfo=timezone.utc), run_conf={"exports": ["bills"]})
    assert again.state == "failed" and Watermarks().get(SCOPE) == MONDAY - timedelta(days=7)  # still pending, red
    capsys.readouterr()

    waived = dag.test(logical_date=datetime(2026, 11, 9, 6, tzinfo=timezone.utc),
                      run_conf={"exports": ["bills"], "waive": [f"INV-{'9' * 30}"]})
    log = capsys.readouterr().out
    assert waived.state == "success"
    assert [a["key"] for a in audits(log) if a["event"] == "record_waived"] == [str(bad)]
    assert Watermarks().get(SCOPE) == datetime(2026, 11, 9, 6, tzinfo=timezone.utc)
    invoices = delivered_invoices(sftp)
    assert len(invoices) == len(set(invoices)) and f"INV-{'9' * 30}" not in invoices


def test_clearing_the_failed_delivery_after_a_fix_sends_it_and_moves_the_mark(dag, env, capsys):
    """The README's replay: clear the failed task of the same run."""
    gateway, sftp = env
    sftp.inject("disk_full", times=None)  # the partner's disk stays full through every attempt
    run = dag.test(logical_date=MONDAY, run_conf={"exports": ["bills"]})
    assert run.state == "failed" and "disk_full" in sftp.faults.fired
    assert Watermarks().get(SCOPE) == MONDAY - timedelta(days=7)

    sftp.clear_faults("disk_full")  # the partner made room
    assert clear_and_rerun(run, dag, "deliver_bills") == "success"
    assert Watermarks().get(SCOPE) == datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    assert sorted(delivered_invoices(sftp)) == sorted(changed_between(gateway, "2026-10-26 05:45:00",
                                                                     "2026-11-02 06:00:00"))
