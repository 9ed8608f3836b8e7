"""``make demo`` and ``make up``: the sandbox plus a real Airflow.

``demo``: start the sandbox and Airflow, unpause and trigger every DAG in ``dags/``, wait for
every run to finish, print a summary (DAG, run, state, what each task delivered, sha256), stop
everything, and exit non-zero if any run did not succeed.

``up``: start the same and leave it running for a person at the UI until Ctrl-C; on the way out,
Airflow stops first (with SIGINT, the only signal ``airflow standalone`` shuts its children down
on), then the sandbox.
"""

from __future__ import annotations

import ast
import hashlib
import os
import secrets
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sandbox.airflow import Airflow
from sandbox.mail import ALERT_ADDRESS
from sandbox.postgres import create_database, drop_database, reachable
from sandbox.processes import REPO, free_port, sandbox, say

TERMINAL = {"success", "failed"}
# The demo's tasks retry after this long at most (the DAGs say minutes, right for production).
DEMO_RETRY_DELAY = timedelta(seconds=10)


def dag_ids(dags_folder: Path) -> list[str]:
    """DAG ids declared in ``dags_folder``, without importing Airflow: ``dag_id="..."`` literals, and for a file
    that builds one DAG per partner (``INTEGRATION = "..."``), ``<integration>__<partner>`` for each switched-on
    partner profile of that integration. A file whose DAG has ``schedule=None`` (triggered by a person, with what
    to act on) or a list of assets (run by data) is left out."""
    from mlc.formats.partner import dag_id, load_partners, taking_part

    partners = load_partners()
    found: list[str] = []
    for path in sorted(dags_folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        if any(isinstance(node, ast.keyword) and node.arg == "schedule"
               and (isinstance(node.value, ast.List) or isinstance(node.value, ast.Constant) and node.value.value is None)
               for node in ast.walk(tree)):
            continue  # a DAG only a person triggers (mlc_resend) or data does (mlc_needs_a_person): not the demo's
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "dag_id" and isinstance(node.value, ast.Constant):
                found.append(str(node.value.value))
            elif (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["INTEGRATION"]
                  and isinstance(node.value, ast.Constant)):
                found += [dag_id(node.value.value, p.partner) for p, _part in taking_part(node.value.value, partners)]
    return found


def _delivered(xcom: Any) -> tuple[str, str]:
    """Summarise one task's XCom manifest as (what, sha256)."""
    if isinstance(xcom, list):  # per-file summaries (inbound feeds)
        files = [x for x in xcom if isinstance(x, dict) and x.get("file")]
        counts = ("posted", "already_posted", "rejected", "skipped", "unfinished")
        return " ".join(f"{x['file']}(" + ",".join(f"{k}={x[k]}" for k in counts if x.get(k)) + ")"
                        if any(x.get(k) for k in counts) else str(x["file"]) for x in files), ""
    if not isinstance(xcom, dict):
        return "", ""
    parts = []
    for key in ("remote_path", "file", "files", "table", "rows", "records", "inserted", "updated", "counts", "uploaded",
                "already_there", "skipped"):
        if key in xcom and xcom[key] not in (None, "", []):
            parts.append(f"{key}={xcom[key]}")
    return " ".join(parts), str(xcom.get("sha256") or "")


def trigger_every_dag(airflow: Airflow, expected: list[str]) -> dict[str, str]:
    """Unpause and trigger each DAG once; return dag id -> the triggered run id."""
    triggered: dict[str, str] = {}
    for dag_id in expected:
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run = airflow.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {}})
        triggered[dag_id] = run["dag_run_id"]
        print(f"[demo] triggered {dag_id} run {run['dag_run_id']}", flush=True)
    return triggered


def wait_for_runs(airflow: Airflow, triggered: dict[str, str], timeout: float,
                  on_tick: Callable[[], None] | None = None, progress_every: float = 30) -> dict[str, list[dict]]:
    """Wait for the triggered runs and the scheduled ones due by then, then pause every DAG.

    The pollers (every 5 and 15 minutes) keep scheduling runs, which a long wait must not chase.
    ``on_tick`` is called between looks (the distributed test kills a worker from there). Every
    ``progress_every`` seconds the runs still going are printed with their unfinished tasks; past
    ``timeout``, the same is raised, so a stuck demo says where it stands.
    """
    expected = list(triggered)
    cutoff = max(r.get("run_after") or "" for r in (airflow.api("GET", f"/dags/{d}/dagRuns/{triggered[d]}")
                                                    for d in expected))
    started = time.monotonic()
    deadline, next_report, stalled = started + timeout, started + progress_every, 0
    while True:
        if on_tick is not None:
            on_tick()
        runs = {d: [r for r in airflow.api("GET", f"/dags/{d}/dagRuns", params={"limit": 100})["dag_runs"]
                    if (r.get("run_after") or "") <= cutoff] for d in expected}
        pending = [r for rs in runs.values() for r in rs if r["state"] not in TERMINAL]
        if not pending and all(any(r["dag_run_id"] == triggered[d] for r in runs[d]) for d in expected):
            break
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(f"runs still not finished after {timeout:.0f}s: {where_runs_stand(airflow, pending)}")
        if now > next_report:
            print(f"[demo] {now - started:.0f}s: {len(pending)} run(s) going: {where_runs_stand(airflow, pending)}",
                  flush=True)
            next_report = now + progress_every
            stalled = stalled + 1 if airflow.scheduler_state() != "healthy" else 0
            if stalled >= 2:  # a minute without a scheduler: nothing will move again
                raise RuntimeError(f"the scheduler stopped ({airflow.scheduler_state()}); see "
                                   f"{airflow.home / 'standalone.log'}: {where_runs_stand(airflow, pending)}")
        time.sleep(2)
    for dag_id in expected:  # nothing new starts while the summary is read and everything stops
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    return runs


def where_runs_stand(airflow: Airflow, runs: list[dict]) -> str:
    """One line per run: its id and state, the tasks at work or waiting to retry (with their try), and how many
    wait their turn: what a person needs to see which task a slow or stuck run waits on."""
    lines = []
    for run in runs:
        try:
            tis = airflow.api("GET", f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances")
            at_work = [f"{ti['task_id']} {ti['state']} (try {ti.get('try_number') or 0})" for ti in tis["task_instances"]
                       if ti["state"] in ("queued", "running", "up_for_retry", "up_for_reschedule", "deferred",
                                          "restarting")]
            waiting = sum(ti["state"] in (None, "none", "scheduled") for ti in tis["task_instances"])
            detail = ", ".join(at_work + ([f"{waiting} waiting"] if waiting else []))
        except RuntimeError as exc:  # the account must not hide the wait's own verdict
            detail = f"tasks unknown: {exc}"
        lines.append(f"\n  {run['dag_id']} {run['dag_run_id']} {run['state']}: {detail or 'no task yet'}")
    return "".join(lines)


def summary_rows(airflow: Airflow, runs: dict[str, list[dict]], xcoms: dict[tuple[str, str, str], Any] | None = None
                 ) -> list[tuple[str, str, str, str, str, str]]:
    """(DAG, run, run state, task, task state, what it delivered + sha256) for every task of ``runs``; ``xcoms``
    collects each successful task's return value by (DAG, run, task)."""
    rows = []
    for dag_id, dag_runs in runs.items():
        for run in sorted(dag_runs, key=lambda r: r["dag_run_id"]):
            tis = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
            for ti in sorted(tis["task_instances"], key=lambda t: t["task_id"]):
                what, sha = "", ""
                if ti["state"] == "success":
                    try:
                        entry = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/"
                                            f"taskInstances/{ti['task_id']}/xcomEntries/return_value")
                        what, sha = _delivered(entry.get("value"))
                        if xcoms is not None:
                            xcoms[(dag_id, run["dag_run_id"], ti["task_id"])] = entry.get("value")
                    except RuntimeError:
                        pass
                rows.append((dag_id, run["dag_run_id"], run["state"], ti["task_id"], ti["state"] or "",
                             f"{what} {sha}".strip()))
    return rows


SNOWFLAKE_TABLE = {"vendors": "vendor", "bills": "ap_bill", "payments": "ap_payment", "gl_accounts": "gl_account"}


def record_counts(xcoms: dict[tuple[str, str, str], Any]) -> dict[tuple[str, str], dict[str, int]]:
    """Per run that extracted records: how many it extracted, delivered (sent now or found already sent) and
    waived, from the tasks' XComs. A green run must have extracted = delivered + waived."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (dag_id, run_id, task_id), value in xcoms.items():
        if not (task_id.startswith("extract_") and isinstance(value, dict) and "export" in value):
            continue
        export, extracted = value["export"], int(value.get("records") or 0)
        if export == "deletes" or not extracted:
            continue
        total = counts.setdefault((dag_id, run_id), {"extracted": 0, "delivered": 0, "waived": 0})
        total["extracted"] += extracted
        render = xcoms.get((dag_id, run_id, f"render_{export}"))
        upload = xcoms.get((dag_id, run_id, "upload_bills")) if export == "bills" else None
        partners = xcoms.get((dag_id, run_id, "sync_partners")) if export == "vendors" else None
        load = (xcoms.get((dag_id, run_id, "load_snowflake")) or {}).get("tables", {})
        if isinstance(render, dict):
            total["delivered"] += int(render.get("records") or 0) + int(render.get("already_sent") or 0)
            total["waived"] += int(render.get("waived") or 0)
        elif isinstance(upload, dict):
            total["delivered"] += sum(int(upload.get(k) or 0) for k in ("uploaded", "already_there", "skipped"))
            total["waived"] += int(upload.get("waived") or 0)
        elif isinstance(partners, dict):
            total["delivered"] += int(partners.get("vendors_synced") or 0)
            total["waived"] += int(partners.get("vendors_waived") or 0)
        elif SNOWFLAKE_TABLE.get(export) in load:
            total["delivered"] += int(load[SNOWFLAKE_TABLE[export]].get("rows_staged") or 0)
        elif (dag_id, run_id, f"deliver_{export}") in xcoms or load:
            total["delivered"] += extracted  # the render passed: these very records were delivered before
    return counts


def report(rows: list[tuple[str, ...]], logs: Path, counts: dict[tuple[str, str], dict[str, int]] | None = None) -> int:
    """Print the summary table; return the exit code (1 when a run did not succeed or none ran)."""
    _print_table(("DAG", "run", "run state", "task", "task state", "delivered / sha256"), rows)
    if counts:
        print()
        _print_table(("DAG", "run", "records extracted", "delivered", "waived"),
                     [(dag, run, str(c["extracted"]), str(c["delivered"]), str(c["waived"]))
                      for (dag, run), c in sorted(counts.items())])
    failed = sorted({(r[0], r[1]) for r in rows if r[2] != "success"})
    if not rows:
        print("[demo] no DAG ran")
        return 1
    for dag_id, run_id in failed:
        print(f"[demo] FAILED: {dag_id} {run_id}; task logs under {logs}")
    print(f"[demo] {len({(r[0], r[1]) for r in rows}) - len(failed)} run(s) succeeded, {len(failed)} failed")
    return 1 if failed else 0


def run_demo(workdir: Path, timeout: float = 900, executor: str = "standalone",
             retry_delay: timedelta | None = DEMO_RETRY_DELAY) -> int:
    """Run every DAG once against the sandbox through the scheduler; return the exit code.

    ``executor="celery"`` runs them on the distributed deployment instead (sandbox/cluster.py: CeleryExecutor on
    the local PostgreSQL and Redis, two workers). ``retry_delay`` caps the tasks' retry delays (None: the DAGs'
    own, minutes): a task that fails once on a busy machine is retried within the demo's patience."""
    expected = dag_ids(REPO / "dags")
    home = workdir / "airflow"
    rows: list[tuple[str, str, str, str, str, str]] = []
    xcoms: dict[tuple[str, str, str], Any] = {}
    with sandbox(workdir) as state:
        database = None
        if executor == "celery":
            from sandbox.cluster import CeleryAirflow

            airflow: Airflow = CeleryAirflow(home, free_port(), state["env"], retry_delay)
        else:
            database = metadata_database(f"mlc_demo_{secrets.token_hex(4)}", fresh=True)
            airflow = Airflow(home, free_port(), state["env"], retry_delay, database and database[1])
        try:
            print(f"[demo] starting airflow ({executor}) at {airflow.url} ...", flush=True)
            if retry_delay is not None:
                print(f"[demo] a failed task is retried after {retry_delay.total_seconds():g} s at most "
                      "(production: the DAGs' own delays)", flush=True)
            airflow.start()
            airflow.wait_for_dags(expected)
            runs = wait_for_runs(airflow, trigger_every_dag(airflow, expected), timeout)
            rows = summary_rows(airflow, runs, xcoms)
        finally:
            say("[demo] stopping airflow and the sandbox ...")
            airflow.stop()
            if database is not None:
                drop_database(database[0])
    return report(rows, home / "logs", record_counts(xcoms))


def metadata_database(name: str, *, fresh: bool) -> tuple[str, str] | None:
    """(name, URL) of a PostgreSQL database for Airflow's metadata, made ``fresh`` or kept from an earlier start;
    None when PostgreSQL is not reachable (Airflow then keeps its metadata in SQLite, which can stall when
    every DAG starts at once)."""
    problem = reachable()
    if problem is not None:
        print(f"[demo] PostgreSQL is not reachable ({problem}): Airflow keeps its metadata in SQLite", flush=True)
        return None
    url = create_database(name, keep=not fresh)
    print(f"[demo] Airflow's metadata database: PostgreSQL {name}", flush=True)
    return name, url


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header).rstrip())
    print(line.format(*("-" * w for w in widths)).rstrip())
    for row in rows:
        print(line.format(*row).rstrip())


def run_up(workdir: Path, api_port: int = 8080) -> int:
    """Start the sandbox and Airflow and keep them up until Ctrl-C (or SIGTERM)."""
    stop = {"now": False}

    def _ask_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _ask_stop)
    signal.signal(signal.SIGINT, _ask_stop)
    with sandbox(workdir) as state:
        # one database per workdir, kept: make up shows the runs of earlier starts
        database = metadata_database(f"mlc_up_{hashlib.sha256(str(workdir).encode()).hexdigest()[:8]}", fresh=False)
        # The sandbox's connections go into Airflow's database, not its environment: listed on the Connections page,
        # editable and testable there (an environment variable would hide every edit).
        os.environ["MLC_ALERT_TO"] = ALERT_ADDRESS  # alerts go to the sandbox's mail catcher, to be read there
        airflow = Airflow(workdir / "airflow", api_port, {}, database=database and database[1])
        try:
            airflow.start()
            stored = airflow.store_connections(state["env"])
            print(f"\nAirflow UI: {airflow.url}   user: admin   password: {airflow.password}")
            print(f"Sandbox SFTP root: {state['sftp_root']}   fault control: {state['control_url']}")
            print("Connections (Admin -> Connections):", ", ".join(stored))
            print(f"Alerts: mailed to {ALERT_ADDRESS}; read them at {state['mail_url']}")
            print("Press Ctrl-C to stop everything.\n", flush=True)
            while not stop["now"] and airflow.proc is not None and airflow.proc.poll() is None:
                time.sleep(0.5)
        finally:
            airflow.stop()
            say("\n[up] airflow stopped; stopping the sandbox ...")
    say("[up] stopped.")
    return 0
