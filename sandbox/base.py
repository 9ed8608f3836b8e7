"""The one shape every sandbox server has: start/stop on loopback, connections, faults.

Faults are what the real systems do to us (an expired session, a 5xx, a dropped connection, a
full disk). A test or the fault matrix injects one by name, optionally for a number of
occurrences and with parameters; the server consumes it at the point where the real system
would fail. Each server lists the faults it supports, so a typo fails loudly instead of
injecting nothing.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Fault:
    """One injected fault: ``remaining`` occurrences left (``None`` = until cleared)."""

    name: str
    remaining: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)


class FaultPlan:
    """Thread-safe set of pending faults, consumed by the server that injects them."""

    def __init__(self, supported: frozenset[str]) -> None:
        self.supported = supported
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self.fired: list[str] = []

    def inject(self, name: str, times: int | None = 1, **params: Any) -> Fault:
        """Arm fault ``name`` for ``times`` occurrences (``None``: until :meth:`clear`)."""
        if name not in self.supported:
            raise ValueError(f"Unsupported fault {name!r}; this server supports: {sorted(self.supported)}")
        if times is not None and times < 1:
            raise ValueError(f"Fault {name!r}: times must be >= 1 or None, got {times}")
        fault = Fault(name, times, dict(params))
        with self._lock:
            self._faults[name] = fault
        return fault

    def take(self, name: str) -> Fault | None:
        """Consume one occurrence of ``name`` if armed; return it (with its params) or ``None``."""
        with self._lock:
            fault = self._faults.get(name)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[name]
            self.fired.append(name)
            return fault

    def note(self, name: str) -> None:
        """Record that a fault that stays armed (a changed host key, a slow link) acted on a request."""
        with self._lock:
            self.fired.append(name)

    def peek(self, name: str) -> Fault | None:
        """Return the armed fault ``name`` without consuming it."""
        with self._lock:
            return self._faults.get(name)

    def clear(self, name: str | None = None) -> None:
        """Disarm one fault, or all of them."""
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(name, None)

    def armed(self) -> list[dict[str, Any]]:
        """Describe the armed faults (for the control API and logs)."""
        with self._lock:
            return [
                {"name": f.name, "remaining": f.remaining, "params": f.params} for f in self._faults.values()
            ]


class SandboxServer(abc.ABC):
    """A local server that plays an external system.

    Subclasses set ``name`` and ``supported_faults`` and implement :meth:`_start`, :meth:`_stop`
    and :meth:`connections`. Use as a context manager or call :meth:`start`/:meth:`stop`.
    """

    name: str = "sandbox"
    supported_faults: frozenset[str] = frozenset()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None) -> None:
        #: Address the server binds to, and the one its connections name (differs in containers).
        self.host = host
        self.public_host = public_host or host
        self.port = port
        self.faults = FaultPlan(self.supported_faults)
        self._started = False
        #: Where secrets this server hands out (session ids, tokens) are noted, one per line, so a test
        #: can prove none of them reached a task log. Set by ``sandbox.serve``; None keeps no note.
        self.issued_secrets: Path | None = None
        self._issued_lock = threading.Lock()

    def initial_secrets(self) -> list[str]:
        """Secrets this server made before anyone asked (a first refresh token in its connection)."""
        return []

    def issued(self, secret: str) -> str:
        """Note a secret this server just handed out; returns it."""
        if self.issued_secrets is not None:
            with self._issued_lock, self.issued_secrets.open("a") as notes:
                notes.write(secret + "\n")
        return secret

    @abc.abstractmethod
    def _start(self) -> None:
        """Bind and serve; set ``self.port`` to the bound port."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Stop serving and release the port."""

    @abc.abstractmethod
    def connections(self) -> dict[str, dict[str, Any]]:
        """Airflow connections (conn id -> JSON form of ``AIRFLOW_CONN_<ID>``) that reach this server."""

    def inject(self, name: str, times: int | None = 1, **params: Any) -> Fault:
        """Arm a fault on this server (see ``supported_faults``)."""
        return self.faults.inject(name, times, **params)

    def clear_faults(self, name: str | None = None) -> None:
        """Disarm one fault, or all of them."""
        self.faults.clear(name)

    def start(self) -> SandboxServer:
        if not self._started:
            self._start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._stop()
            self._started = False

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def airflow_connections(servers: list[SandboxServer]) -> dict[str, dict[str, Any]]:
    """Every connection of ``servers``, in the format of ``airflow connections import``."""
    found: dict[str, dict[str, Any]] = {}
    for server in servers:
        found.update(server.connections())
    return found


def connection_env(servers: list[SandboxServer]) -> dict[str, str]:
    """Return ``AIRFLOW_CONN_<ID>`` environment variables for every connection of ``servers``."""
    env: dict[str, str] = {}
    for server in servers:
        for conn_id, conn in server.connections().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


@contextmanager
def running(*servers: SandboxServer) -> Iterator[tuple[SandboxServer, ...]]:
    """Start ``servers`` in order and stop them in reverse order, even on error."""
    started: list[SandboxServer] = []
    try:
        for server in servers:
            started.append(server.start())
        yield servers
    finally:
        for server in reversed(started):
            server.stop()
