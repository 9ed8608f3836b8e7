"""The sandbox plus a real Airflow (``airflow standalone``): ``make demo`` and ``make up``.

``demo``: start the sandbox and Airflow, unpause and trigger every DAG in ``dags/``, wait for
every run to finish, print a summary (DAG, run, state, what each task delivered, sha256), stop
everything, and exit non-zero if any run did not succeed.

``up``: start the same and leave it running for a person at the UI until Ctrl-C.

Children run in their own sessions so that a Ctrl-C reaches only this process, which then stops
them in order: Airflow first (with SIGINT, the only signal ``airflow standalone`` shuts its
children down on), then the sandbox.
"""

from __future__ import annotations

import ast
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dag_ids(dags_folder: Path) -> list[str]:
    """DAG ids declared in ``dags_folder`` (``dag_id="..."`` literals), without importing Airflow."""
    found: list[str] = []
    for path in sorted(dags_folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.keyword) and node.arg == "dag_id" and isinstance(node.value, ast.Constant):
                found.append(str(node.value.value))
    return found


def _stop_process(proc: subprocess.Popen, sig: int, name: str, timeout: float) -> None:
    """Send ``sig`` to ``proc``, wait, then kill its whole process group if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _say(f"[stack] {name} did not stop within {timeout:.0f}s; killing its process group")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def _say(message: str) -> None:
    """Print progress; a closed stdout (``make up | tee`` after Ctrl-C) must not stop the teardown."""
    try:
        print(message, flush=True)
    except OSError:
        pass


def _child_setup(stop_signal: int) -> Callable[[], None]:
    """Return a ``preexec_fn``: default SIGINT, and ``stop_signal`` when this process dies.

    A job started from a non-interactive shell inherits SIGINT=ignored, and `airflow standalone`
    stops its children only on SIGINT: give it the default handler back. The parent-death signal
    (Linux) makes the child stop itself even if this process is killed outright.
    """

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, stop_signal)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    return setup


@contextmanager
def sandbox(workdir: Path) -> Iterator[dict[str, Any]]:
    """Run ``python -m sandbox.serve`` and yield its state (connections, control URL)."""
    state_file = workdir / "sandbox-state.json"
    state_file.unlink(missing_ok=True)
    log = (workdir / "sandbox.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.serve", "--workdir", str(workdir / "sandbox"), "--state", str(state_file)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_child_setup(signal.SIGTERM),
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])},
    )
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start; see {workdir / 'sandbox.log'}")
            time.sleep(0.1)
        yield json.loads(state_file.read_text())
    finally:
        _stop_process(proc, signal.SIGTERM, "sandbox", 20)
        log.close()


def fernet_key(home: Path) -> str:
    """This Airflow home's Fernet key, made once and kept, so stored secrets survive a restart."""
    path = home / "fernet.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        home.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(home: Path, api_port: int, connections: dict[str, str], password_file: Path) -> dict[str, str]:
    """Environment for an Airflow that reads this repo's dags/plugins and reaches the sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(connections)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the connection form's Test button
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
        "MLC_STAGING_URL": f"file://{home / 'staging'}",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


POOLS = {"intacct_default": (1, "Sage Intacct company behind intacct_default: one API call at a time"),
         "exact_online_default": (1, "Exact Online division behind exact_online_default: pages in order, one caller")}


class Airflow:
    """A running ``airflow standalone`` and a small client of its REST API."""

    def __init__(self, home: Path, api_port: int, connections: dict[str, str]) -> None:
        self.home = home
        self.url = f"http://127.0.0.1:{api_port}"
        self.password_file = home / "simple_auth_manager_passwords.json"
        home.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        self.password = json.loads(self.password_file.read_text())["admin"]
        self.env = airflow_env(home, api_port, connections, self.password_file)
        self.proc: subprocess.Popen | None = None
        self._session = requests.Session()

    def start(self, timeout: float = 180) -> None:
        self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"airflow exited; see the logs in {self.home}")
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).json()
                if all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "dag_processor")) and self.ready():
                    break
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"airflow did not become healthy in {timeout:.0f}s; see the logs in {self.home}")
        token = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password},
                              timeout=10)
        token.raise_for_status()
        self._session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self.ensure_pools()

    def launch(self) -> None:
        """Start ``airflow standalone`` (scheduler, dag-processor, api-server, triggerer, LocalExecutor)."""
        log = (self.home / "standalone.log").open("ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"], cwd=self.home, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_child_setup(signal.SIGINT),
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """Anything besides the health endpoint that must be up before work is triggered."""
        return True

    def ensure_pools(self) -> None:
        """One pool per external API account whose concurrency is limited (README, "Connections")."""
        for name, (slots, description) in POOLS.items():
            body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
            existing = self._session.get(f"{self.url}/api/v2/pools/{name}", timeout=30)
            if existing.status_code == 200:
                self.api("PATCH", f"/pools/{name}", json=body)
            else:
                self.api("POST", "/pools", json=body)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGINT, "airflow standalone", 45)
            self.proc = None

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(6):  # standalone's SQLite answers "database is locked" (500) while the scheduler writes
            response = self._session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
            if response.status_code < 500 or attempt == 5:
                break
            time.sleep(1 + attempt)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, expected: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.api("GET", "/importErrors")
            if errors["total_entries"]:
                details = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors["import_errors"])
                raise RuntimeError(f"DAG import errors: {details}")
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 1000})["dags"]}
            if set(expected) <= known:
                return
            time.sleep(1)
        raise RuntimeError(f"DAGs not parsed within {timeout:.0f}s: {sorted(set(expected) - known)}")


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
                  on_tick: Callable[[], None] | None = None) -> dict[str, list[dict]]:
    """Wait for the triggered runs and the scheduled ones due by then, then pause every DAG.

    The pollers (every 5 and 15 minutes) keep scheduling runs, which a long wait must not chase.
    ``on_tick`` is called between looks (the distributed test kills a worker from there).
    """
    expected = list(triggered)
    cutoff = max(r.get("run_after") or "" for r in (airflow.api("GET", f"/dags/{d}/dagRuns/{triggered[d]}")
                                                    for d in expected))
    deadline = time.monotonic() + timeout
    while True:
        if on_tick is not None:
            on_tick()
        runs = {d: [r for r in airflow.api("GET", f"/dags/{d}/dagRuns", params={"limit": 100})["dag_runs"]
                    if (r.get("run_after") or "") <= cutoff] for d in expected}
        pending = [r for rs in runs.values() for r in rs if r["state"] not in TERMINAL]
        if not pending and all(any(r["dag_run_id"] == triggered[d] for r in runs[d]) for d in expected):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still not finished after {timeout:.0f}s: "
                               f"{[(r['dag_id'], r['dag_run_id'], r['state']) for r in pending]}")
        time.sleep(2)
    for dag_id in expected:  # nothing new starts while the summary is read and everything stops
        airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    return runs


def summary_rows(airflow: Airflow, runs: dict[str, list[dict]]) -> list[tuple[str, str, str, str, str, str]]:
    """(DAG, run, run state, task, task state, what it delivered + sha256) for every task of ``runs``."""
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
                    except RuntimeError:
                        pass
                rows.append((dag_id, run["dag_run_id"], run["state"], ti["task_id"], ti["state"] or "",
                             f"{what} {sha}".strip()))
    return rows


def report(rows: list[tuple[str, ...]], logs: Path) -> int:
    """Print the summary table; return the exit code (1 when a run did not succeed or none ran)."""
    _print_table(("DAG", "run", "run state", "task", "task state", "delivered / sha256"), rows)
    failed = sorted({(r[0], r[1]) for r in rows if r[2] != "success"})
    if not rows:
        print("[demo] no DAG ran")
        return 1
    for dag_id, run_id in failed:
        print(f"[demo] FAILED: {dag_id} {run_id}; task logs under {logs}")
    print(f"[demo] {len({(r[0], r[1]) for r in rows}) - len(failed)} run(s) succeeded, {len(failed)} failed")
    return 1 if failed else 0


def run_demo(workdir: Path, timeout: float = 900, executor: str = "standalone") -> int:
    """Run every DAG once against the sandbox through the scheduler; return the exit code.

    ``executor="celery"`` runs them on the distributed deployment instead (sandbox/cluster.py: CeleryExecutor on
    the local PostgreSQL and Redis, two workers)."""
    expected = dag_ids(REPO / "dags")
    home = workdir / "airflow"
    rows: list[tuple[str, str, str, str, str, str]] = []
    with sandbox(workdir) as state:
        if executor == "celery":
            from sandbox.cluster import CeleryAirflow

            airflow: Airflow = CeleryAirflow(home, free_port(), state["env"])
        else:
            airflow = Airflow(home, free_port(), state["env"])
        try:
            print(f"[demo] starting airflow ({executor}) at {airflow.url} ...", flush=True)
            airflow.start()
            airflow.wait_for_dags(expected)
            runs = wait_for_runs(airflow, trigger_every_dag(airflow, expected), timeout)
            rows = summary_rows(airflow, runs)
        finally:
            _say("[demo] stopping airflow and the sandbox ...")
            airflow.stop()
    return report(rows, home / "logs")


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
        airflow = Airflow(workdir / "airflow", api_port, state["env"])
        try:
            airflow.start()
            print(f"\nAirflow UI: {airflow.url}   user: admin   password: {airflow.password}")
            print(f"Sandbox SFTP root: {state['sftp_root']}   fault control: {state['control_url']}")
            print("Connections:", ", ".join(k.removeprefix("AIRFLOW_CONN_").lower() for k in state["env"]))
            print("Press Ctrl-C to stop everything.\n", flush=True)
            while not stop["now"] and airflow.proc is not None and airflow.proc.poll() is None:
                time.sleep(0.5)
        finally:
            airflow.stop()
            _say("\n[up] airflow stopped; stopping the sandbox ...")
    _say("[up] stopped.")
    return 0
