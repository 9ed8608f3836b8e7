"""The fault matrix: every DAG under every fault the sandbox servers and the SFTP server inject.

Each case runs the DAG (``dag.test()``, a task try without Airflow retries) with one fault armed,
against the sandbox's dirty data (control characters, separators, long names, CJK, emoji). Every
armed fault must have fired. When the run fails, the fault is cleared (the network came back, the
disk was emptied, a person confirmed the new host key) and the failed tasks of that same run are
cleared and run again, as the README tells a person to. Then the records that had to arrive are
counted where they arrive (the partner's files, Intacct's bills, Sterling's mailboxes, Snowflake's
tables): none may be missing, none twice. The "missed runs" row runs a DAG, then (the scheduler down
for three weeks) the run three weeks later: it must catch up every record in between.

``make faults`` runs this module with ``MLC_FAULTS_REPORT`` set and prints one table
(``tests/fault_matrix_report.py``); ``make test`` runs it too, so a regression fails CI.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox import stampli
from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed
from sandbox.intacct import IntacctSandbox
from sandbox.intacct_data import Seed
from sandbox.servers import build_sftp
from sandbox.snowflake import SnowflakeSandbox
from sandbox.snowflake_sqlapi import SnowflakeSqlApiSandbox
from sandbox.sterling import SterlingSandbox
from tests.dagrun import load_dag, load_partner_dag, replay_failed
from mlc.hooks.retry import RetryPolicy

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration
WINDOW = {"window_start": "2026-11-01T00:00:00Z", "window_end": "2026-11-09T00:00:00Z", "overlap_minutes": 0}
ANCHOR = datetime(2026, 11, 16)


@dataclass
class Systems:
    """The sandbox servers one case runs against."""

    sftp: Any
    intacct: IntacctSandbox | None = None
    exact: ExactSandbox | None = None
    sterling: SterlingSandbox | None = None
    snowflake: SnowflakeSandbox | None = None
    sql_api: SnowflakeSqlApiSandbox | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def servers(self) -> dict[str, Any]:
        return {s.name: s for s in (self.sftp, self.intacct, self.exact, self.sterling, self.sql_api) if s is not None}

    def clear(self) -> None:
        for server in self.servers().values():
            server.clear_faults()

    def fired(self) -> dict[str, list[str]]:
        return {name: list(server.faults.fired) for name, server in self.servers().items()}

    def armed(self) -> dict[str, list[str]]:
        return {name: [f["name"] for f in server.faults.armed()] for name, server in self.servers().items()}


# -- what must arrive, and what did ------------------------------------------------------------------
def _segments(data: bytes, tag: bytes) -> list[bytes]:
    return [seg for seg in re.split(rb"~\r?\n?", data) if seg.startswith(tag)]


def _big_numbers(folder: Path, prefix: str) -> list[str]:
    if not folder.exists():
        return []
    return [seg.split(b"*")[2].decode() for p in sorted(folder.iterdir()) if p.is_file() and p.name.startswith(prefix)
            and p.name.endswith(".x12") for seg in _segments(p.read_bytes(), b"BIG*")]


def _window_bills(systems: Systems, column: str) -> list[str]:
    return [str(v) for (v,) in systems.intacct.store.select(
        f'SELECT "{column}" FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
        ["2026-11-01 00:00:00", "2026-11-09 00:00:00"])]


def _exact_entries(systems: Systems) -> list[str]:
    low, high = datetime(2026, 11, 1, 1), datetime(2026, 11, 9, 1)  # the UTC window in Amsterdam wall-clock time
    return [r["YourRef"] for r in systems.exact.division.tables["entries"] if low <= r["Modified"] < high]


def _sterling_uploads(systems: Systems) -> list[str]:
    return [m["name"].split("_")[2] for m in systems.sterling.messages.values()
            if m["mailboxPath"] != "/MLC/Inbound" and m["name"].startswith("810_")]


def _inbound_messages(systems: Systems) -> list[bytes]:
    return [systems.sterling.documents[m["documentId"]] for m in systems.sterling.messages.values()
            if m["mailboxPath"] == "/MLC/Inbound"]


def _handed_on(systems: Systems) -> list[bytes]:
    folder = systems.sftp.home("partner") / "from_sterling"
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.exists() else []


def _snowflake_bills(_systems: Systems) -> list[str]:
    from mlc.hooks.snowflake import MlcSnowflakeHook

    try:
        return [str(r) for (r,) in MlcSnowflakeHook().get_records("SELECT recordno FROM ap_bill")]
    except Exception:  # noqa: BLE001 - no table yet: nothing arrived
        return []


def _stampli_posted(systems: Systems) -> list[str]:
    return [r for (r,) in systems.intacct.store.select('SELECT "RECORDID" FROM "APBILL" WHERE "RECORDID" LIKE ?',
                                                       ["STP-%"])]


def _drop_stampli_file(systems: Systems) -> None:
    export = stampli.invoice_export(systems.intacct.store, 8, day=date(2026, 11, 20), defects=("bad_date",))
    stampli.drop(systems.sftp.home("stampli"), export, "invoices")
    systems.notes["expected"] = [i["number"] for i in export.invoices]


@dataclass(frozen=True)
class DagSpec:
    servers: tuple[str, ...]
    conf: dict[str, Any]
    expected: Callable[[Systems], list]
    delivered: Callable[[Systems], list]
    prepare: Callable[[Systems], None] = lambda systems: None


DAGS = {
    "intacct_to_sftp__acme": DagSpec(("intacct",), {**WINDOW, "exports": ["bills"]},
                               lambda s: _window_bills(s, "RECORDID"),
                               lambda s: _big_numbers(s.sftp.home("partner") / "outbound", "MLC_810_")),
    "stampli_to_intacct": DagSpec(("intacct",), {}, lambda s: s.notes["expected"], _stampli_posted,
                                  prepare=_drop_stampli_file),
    "exact_online_to_sftp__warehouse_erp": DagSpec(("exact",), {**WINDOW, "exports": ["purchase_invoices"]}, _exact_entries,
                                    lambda s: _big_numbers(s.sftp.home("partner") / "inbound", "EXACT_810_")),
    "intacct_to_sterling__sterling_hub": DagSpec(("intacct", "sterling"), WINDOW, lambda s: _window_bills(s, "RECORDNO"),
                                   _sterling_uploads),
    "sterling_mailbox_poll": DagSpec(("sterling",), {}, _inbound_messages, _handed_on),
    "intacct_to_snowflake": DagSpec(("intacct", "snowflake"), {**WINDOW, "tables": ["ap_bill"], "merge_via": "sql_api"},
                                    lambda s: _window_bills(s, "RECORDNO"), _snowflake_bills),
}


# -- the faults ------------------------------------------------------------------------------------
def _exact_rotation_race(systems: Systems) -> None:
    """Another worker (a process of its own) refreshes the Exact token at the moment this run needs one: the
    token call is slow, so the two overlap; both must end on one live token chain."""
    import subprocess
    import sys

    systems.exact.inject("slow", times=1, seconds=25, body_contains="grant_type=refresh_token")
    code = "from mlc.hooks.exact_online import ExactOnlineHook; ExactOnlineHook().access_token()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    systems.notes["other_worker"] = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 30
    while not systems.exact.faults.fired.count("slow") and time.monotonic() < deadline:
        time.sleep(0.05)  # the other worker's refresh is on the wire, holding the lease


def _no_fault(_systems: Systems) -> None:
    """Only the dirty data every case has."""


def _exact_token_lost(systems: Systems) -> None:
    """The refresh is carried out, its answer lost: the new pair never arrives and the old token is spent. Only a
    person can mend that (the alert says: run `mlc exact-auth`); the replay follows their consent."""
    systems.exact.inject("token_lost")
    systems.notes["reconsent"] = True


def _consent_again() -> None:
    """What the person does after an ExactReauthRequired alert: `mlc exact-auth` (authorize, allow, exchange)."""
    import requests

    from mlc.hooks.exact_consent import authorize_url, code_from
    from mlc.hooks.exact_online import ExactOnlineHook

    hook, redirect = ExactOnlineHook(), "http://localhost/mlc-callback"
    url, state = authorize_url(hook, redirect)
    answer = requests.get(url, allow_redirects=False, timeout=10)  # the person clicks "Allow"
    hook.exchange_code(code_from(answer.headers["Location"], state), redirect)


INTACCT = [("dirty data, no fault", _no_fault),
           ("expired session", lambda s: s.intacct.inject("expired_session")),
           ("rate limit", lambda s: s.intacct.inject("rate_limit", times=2)),
           ("5xx", lambda s: s.intacct.inject("http_5xx", times=2, status=502, body="")),
           ("malformed answer", lambda s: s.intacct.inject("malformed")),
           ("empty page", lambda s: s.intacct.inject("empty_page")),
           ("body cut mid-way", lambda s: s.intacct.inject("cut_body")),
           ("answer that does not parse", lambda s: s.intacct.inject("bad_markup", times=None)),
           ("Cloudflare page with status 200", lambda s: s.intacct.inject("cloudflare_200")),
           ("temporarily off-line", lambda s: s.intacct.inject("offline")),
           ("slow answer", lambda s: s.intacct.inject("slow", seconds=1))]
SFTP = [("dropped SFTP connection", lambda s: s.sftp.inject("disconnect")),
        ("host key change", lambda s: s.sftp.inject("host_key_change", times=None)),
        ("full remote disk", lambda s: s.sftp.inject("disk_full", times=None)),
        ("slow SFTP server", lambda s: s.sftp.inject("slow", times=None, seconds=0.2))]
FAULTS: dict[str, list[tuple[str, Callable[[Systems], None]]]] = {
    "intacct_to_sftp__acme": INTACCT + SFTP,
    "stampli_to_intacct": INTACCT + [
        ("timeout after commit", lambda s: s.intacct.inject("commit_then_drop")),
        ("524 after commit", lambda s: s.intacct.inject("commit_then_524"))] + SFTP,
    "exact_online_to_sftp__warehouse_erp": [
        ("expired session", lambda s: s.exact.inject("expired_token")),
        ("rate limit", lambda s: s.exact.inject("rate_limit", times=3)),
        ("5xx", lambda s: s.exact.inject("http_5xx", times=2, status=503)),
        ("malformed answer", lambda s: s.exact.inject("malformed", path_contains="/api/v1/")),
        ("maintenance page", lambda s: s.exact.inject("maintenance")),
        ("body cut mid-way", lambda s: s.exact.inject("cut_body", path_contains="/api/v1/")),
        ("token answer lost", _exact_token_lost),
        ("token rotation race", _exact_rotation_race)] + SFTP,
    "intacct_to_sterling__sterling_hub": INTACCT[:3] + [
        ("5xx", lambda s: s.sterling.inject("http_5xx", times=2, status=503)),
        ("timeout after commit", lambda s: s.sterling.inject("answer_lost", body_contains="ISA*")),
        ("partner create answer lost", lambda s: s.sterling.inject("answer_lost", body_contains='"partnerName"')),
        ("malformed answer", lambda s: s.sterling.inject("malformed")),
        ("body cut mid-way", lambda s: s.sterling.inject("cut_body"))],
    "sterling_mailbox_poll": [
        ("5xx", lambda s: s.sterling.inject("http_5xx", times=2, status=503)),
        ("malformed answer", lambda s: s.sterling.inject("malformed")),
        ("slow answer", lambda s: s.sterling.inject("slow", seconds=1))] + SFTP,
    "intacct_to_snowflake": INTACCT + [
        ("rate limit (SQL API)", lambda s: s.sql_api.inject("rate_limit", times=2)),
        ("5xx (SQL API)", lambda s: s.sql_api.inject("http_5xx", times=2, status=503)),
        ("timeout after commit (SQL API)", lambda s: s.sql_api.inject("answer_lost", body_contains="MERGE")),
        ("malformed answer (SQL API)", lambda s: s.sql_api.inject("malformed")),
        ("slow statement (SQL API)", lambda s: s.sql_api.inject("slow_statement", polls=3))],
}
# A DAG's cases run on one test worker, one after the other, against one set of servers (ServerSets).
CASES = [pytest.param(dag_id, fault, arm, id=f"{dag_id}-{fault}", marks=pytest.mark.xdist_group(f"faults-{dag_id}"))
         for dag_id, faults in FAULTS.items() for fault, arm in faults]


# -- running one case --------------------------------------------------------------------------------
def _load(dag_id: str):
    if "__" in dag_id:  # the partner as the only profile: its DAG serves all the sandbox's data (every vendor)
        partner = dag_id.split("__")[1]
        profile = (Path(__file__).resolve().parent.parent / "include" / "partners" / f"{partner}.yaml").read_text()
        dag = load_partner_dag(dag_id, profile, Path(tempfile.mkdtemp(prefix="mlc-faults-partners-")))
    else:
        dag = load_dag(dag_id)  # one try: what the hook's own retries cannot mend shows as a failed run
    for task in dag.tasks:
        if task.task_id.startswith("pick_up_"):
            task.settle_seconds = 0.3
        if hasattr(task, "hook_kwargs") and task.task_id.startswith("post_"):
            task.hook_kwargs = {"retry": RetryPolicy.configured(attempts=4)}
        if task.task_id == "load_snowflake":
            task.sql_api_kwargs = {"poll_interval": 0.1}
    return dag


_LOG_LINE = re.compile(r"^\S+ \[(?:warning|error) *\] (?P<message>.*?)(?: \[[\w.]+\])?(?: \w+=.*)?$")
_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?(?P<name>\w*(?:Error|Exception|Required|Rejected|Refused|Unavailable|Lost))"
                        r": (?P<message>.+)$")


def what_the_log_says(output: str, failed: bool, records: list[logging.LogRecord] = ()) -> str:
    """The failure as the task log's last lines name it, or the first warning of a run that recovered (from the
    task loggers' lines in ``output`` or the hooks' ``records``)."""
    lines = output.splitlines() + [f"x [warning] {r.getMessage()}" for r in records if r.levelno >= logging.WARNING]
    if failed:
        errors = [m for m in map(_EXCEPTION.match, lines) if m and "A task of this run failed" not in m["message"]]
        if errors:
            name, message = errors[-1]["name"], errors[-1]["message"]
            return message if name == "Error" else f"{name}: {message}"
    warnings = [m["message"] for m in map(_LOG_LINE.match, lines)
                if m and not any(word in m["message"].lower() for word in ("deprecat", "alert (mlc_alert_to",
                                                                           "unsupported property", "skipping masking"))]
    return warnings[0] if warnings else ""


def _keys(records: list) -> list:
    return [r if isinstance(r, bytes) else str(r) for r in records]


def _record(row: dict[str, Any]) -> None:
    path = os.environ.get("MLC_FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


class ServerSets:
    """One set of servers per DAG, started for its first case and reseeded for each case after it: a case finds
    the servers as a fresh start would (seeded data, no faults, no sessions or tokens of before), without the
    cost of starting them."""

    def __init__(self, stack: ExitStack, root: Path) -> None:
        self.stack, self.root, self.sets = stack, root, {}

    def for_case(self, dag_id: str) -> Systems:
        spec = DAGS[dag_id]
        found = self.sets.get(dag_id)
        if found is None:
            found = self.sets[dag_id] = self._start(dag_id, spec)
        else:
            self._reseed(found)
        found.notes = {}
        return found

    def _start(self, dag_id: str, spec: DagSpec) -> Systems:
        start = self.stack.enter_context
        found = Systems(sftp=start(build_sftp(self.root / dag_id / "sftp")))
        if "intacct" in spec.servers:
            found.intacct = start(IntacctSandbox(seed=INTACCT_SEED))
        if "exact" in spec.servers:
            found.exact = start(ExactSandbox(seed=EXACT_SEED, window_seconds=1.0))
        if "sterling" in spec.servers:
            found.sterling = start(SterlingSandbox())
        if "snowflake" in spec.servers:
            found.snowflake = start(SnowflakeSandbox(database=_new_database()))
            found.sql_api = start(SnowflakeSqlApiSandbox(found.snowflake))
        return found

    @staticmethod
    def _reseed(found: Systems) -> None:
        found.sftp.reseed()
        if found.intacct is not None:
            found.intacct.reseed(INTACCT_SEED)
        if found.exact is not None:
            found.exact.reseed(EXACT_SEED)
        if found.sterling is not None:
            found.sterling.reseed()
        if found.snowflake is not None:
            found.snowflake.reseed(_new_database())
            found.sql_api.reseed()


INTACCT_SEED, EXACT_SEED = Seed(bills=25, anchor=ANCHOR), ExactSeed(invoices=40)


def _new_database() -> str:
    return f"MLC_{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture(scope="module")
def server_sets(tmp_path_factory) -> Iterator[ServerSets]:
    with ExitStack() as stack:
        yield ServerSets(stack, tmp_path_factory.mktemp("fault-matrix"))


@pytest.fixture
def systems(request, server_sets, use_connections, mlc_state, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # fakesnow leaves a folder per process in TMPDIR
    found = server_sets.for_case(request.node.callspec.params["dag_id"])
    for server in (found.sftp, found.intacct, found.exact, found.sterling, found.snowflake):
        if server is not None:
            use_connections(server.connections())
    return found


@pytest.mark.parametrize(("dag_id", "fault", "arm"), CASES)
def test_fault(dag_id, fault, arm, systems, capfd, caplog):
    spec = DAGS[dag_id]
    dag = _load(dag_id)
    spec.prepare(systems)
    fired_before = systems.fired()
    arm(systems)
    armed = systems.armed()
    run = dag.test(run_conf=spec.conf)
    not_fired = [f"{server}:{name}" for server, names in armed.items() for name in names
                 if name not in systems.fired()[server][len(fired_before[server]):]]
    if "other_worker" in systems.notes:
        assert systems.notes["other_worker"].wait(timeout=120) == 0, "the other worker's refresh failed"
        token_calls = [r for r in systems.exact.requests if r.path.endswith("/oauth2/token")]
        assert len(token_calls) == 1, "both workers refreshed: the second would have killed the chain"
    captured = capfd.readouterr()
    output = captured.out + captured.err
    failed_tasks = sorted(ti.task_id for ti in run.get_task_instances() if ti.state == "failed")
    said = what_the_log_says(output, bool(failed_tasks), caplog.records)
    if run.state == "success":
        outcome = "success"
    else:
        systems.clear()
        if systems.notes.get("reconsent"):
            _consent_again()
        replayed = replay_failed(run, dag)  # clear the failed tasks of the same run, as a person does
        capfd.readouterr()
        outcome = (f"{', '.join(failed_tasks)} failed; {'consented again; ' if systems.notes.get('reconsent') else ''}"
                   f"replay {'succeeded' if replayed else 'FAILED'}")
    expected, delivered = map(_keys, (spec.expected(systems), spec.delivered(systems)))
    lost = len(set(expected) - set(delivered))
    duplicated = len(delivered) - len(set(delivered))
    _record({"dag": dag_id, "fault": fault, "outcome": outcome, "expected": len(expected), "lost": lost,
             "duplicated": duplicated, "log": said})
    assert expected, "the case moved no records: it proves nothing"
    assert not not_fired, f"armed but never fired: {not_fired}: the case proves nothing about them"
    assert (lost, duplicated) == (0, 0), (outcome, said)
    assert outcome == "success" or outcome.endswith("replay succeeded"), outcome
    if failed_tasks:
        assert said, f"{failed_tasks} failed without naming the failure in the log"


def test_missed_runs(server_sets, use_connections, mlc_state, capfd):
    """The scheduler is down for three weeks, then one run: it catches up every bill changed since the last
    delivery, once (intacct_to_sftp's weekly schedule; the bills change over the 30 days before ANCHOR)."""
    from datetime import timedelta, timezone

    systems = server_sets.for_case("intacct_to_sftp__acme")
    for server in (systems.sftp, systems.intacct):
        use_connections(server.connections())
    dag = _load("intacct_to_sftp__acme")
    first = datetime(2026, 10, 26, 6, tzinfo=timezone.utc)  # reads [Oct 19, Oct 26)
    assert dag.test(logical_date=first, run_conf={"exports": ["bills"]}).state == "success"
    late = dag.test(logical_date=first + timedelta(weeks=4), run_conf={"exports": ["bills"]})  # three runs missed
    capfd.readouterr()
    expected = [str(v) for (v,) in systems.intacct.store.select(
        'SELECT "RECORDID" FROM "APBILL" WHERE "WHENMODIFIED" >= ? AND "WHENMODIFIED" < ?',
        ["2026-10-19 05:45:00", "2026-11-23 06:00:00"])]
    delivered = _big_numbers(systems.sftp.home("partner") / "outbound", "MLC_810_")
    lost, duplicated = len(set(expected) - set(delivered)), len(delivered) - len(set(delivered))
    _record({"dag": "intacct_to_sftp__acme", "fault": "missed runs (3 weeks)", "outcome": late.state,
             "expected": len(expected), "lost": lost, "duplicated": duplicated, "log": "caught up from the watermark"})
    assert late.state == "success" and expected and (lost, duplicated) == (0, 0)
