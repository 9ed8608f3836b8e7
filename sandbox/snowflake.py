"""Snowflake for the sandbox: fakesnow's server mode on a free loopback port.

Tests that need no separate process use ``fakesnow.patch()`` directly; the demo and anything that
runs tasks in other processes (the scheduler's workers) reach this server over HTTP with the
``protocol: "http"`` extra that :class:`mlc.hooks.snowflake.MlcSnowflakeHook` honours.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sandbox.base import SandboxServer

SNOWFLAKE_KEY = Path(__file__).resolve().parent / "keys" / "snowflake_rsa_key.p8"
DATABASE = "MLC"
SCHEMA = "PUBLIC"


class SnowflakeSandbox(SandboxServer):
    """fakesnow in server mode; state lives in memory for as long as the server runs."""

    name = "snowflake"
    supported_faults: frozenset[str] = frozenset()

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None,
        conn_id: str = "snowflake_default", database: str = DATABASE,
    ) -> None:
        super().__init__(host, port, public_host)
        self.conn_id, self.database = conn_id, database  # fakesnow keeps databases per process: tests pick their own
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.sql_api: Any = None  # the SQL API server in front of this one, when there is one

    def reseed(self, database: str) -> None:
        """Point the connections at another, empty database (fakesnow keeps databases per process, so a new name
        is a new warehouse); read them again from :meth:`connections`."""
        self.database = database

    def _start(self) -> None:
        # What fakesnow.server() does, by hand: that helper imports its own `fakesnow.server`
        # submodule, which shadows the helper after the first call in a process.
        import uvicorn
        from fakesnow.server import app

        if not self.port:
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="sandbox-snowflake", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fakesnow server did not start on {self.host}:{self.port}")
            time.sleep(0.05)

    def _stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None

    def connections(self) -> dict[str, dict[str, Any]]:
        return {
            self.conn_id: {
                "conn_type": "snowflake",
                # fakesnow accepts any user; key-pair below, as a real account would have it
                "login": "fake",
                "password": "",  # the key's passphrase: the sandbox key has none
                "schema": SCHEMA,
                "extra": {
                    "account": "fakesnow",
                    "database": self.database,
                    "warehouse": "MLC_WH",
                    "role": "MLC_LOADER",
                    "host": self.public_host,
                    "port": self.port,
                    "protocol": "http",
                    "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
                    # key-pair authentication, as on a real account (base64 of the PEM: portable across
                    # provider versions); fakesnow accepts the login without checking it
                    "private_key_content": base64.b64encode(SNOWFLAKE_KEY.read_bytes()).decode(),
                    **({"sql_api_url": self.sql_api.url} if self.sql_api is not None else {}),
                },
            }
        }
