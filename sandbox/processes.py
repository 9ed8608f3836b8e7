"""Child processes of the sandbox tools: started in their own sessions, stopped in order, never left behind.

Children run in their own sessions so that a Ctrl-C reaches only the parent, which then stops them
in order; the parent-death signal makes a child stop itself even when the parent is killed outright.
``sandbox()`` runs the sandbox servers (``python -m sandbox.serve``) as such a child.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def stop_process(proc: subprocess.Popen, sig: int, name: str, timeout: float) -> None:
    """Send ``sig`` to ``proc``, wait, then kill its whole process group if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        say(f"[stack] {name} did not stop within {timeout:.0f}s; killing its process group")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def say(message: str) -> None:
    """Print progress; a closed stdout (``make up | tee`` after Ctrl-C) must not stop the teardown."""
    try:
        print(message, flush=True)
    except OSError:
        pass


def child_setup(stop_signal: int) -> Callable[[], None]:
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
        preexec_fn=child_setup(signal.SIGTERM),
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
        stop_process(proc, signal.SIGTERM, "sandbox", 20)
        log.close()
