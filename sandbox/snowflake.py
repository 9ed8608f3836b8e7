"""Snowflake for the sandbox: fakesnow's server mode on a free loopback port.

Tests that need no separate process use ``fakesnow.patch()`` directly; the demo and anything that
runs tasks in other processes (the scheduler's workers) reach this server over HTTP with the
``protocol: "http"`` extra that :class:`hooks.snowflake.MlcSnowflakeHook` honours.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import fakesnow

from sandbox.base import SandboxServer

DATABASE = "MLC"
SCHEMA = "PUBLIC"


class SnowflakeSandbox(SandboxServer):
    """fakesnow in server mode; state lives in memory for as long as the server runs."""

    name = "snowflake"
    supported_faults: frozenset[str] = frozenset()

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None,
        conn_id: str = "snowflake_default",
    ) -> None:
        super().__init__(host, port, public_host)
        self.conn_id = conn_id
        self._stack: contextlib.ExitStack | None = None
        self.connect_kwargs: dict[str, Any] = {}

    def _start(self) -> None:
        logging.getLogger("uvicorn").setLevel(logging.WARNING)
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        self._stack = contextlib.ExitStack()
        self.connect_kwargs = self._stack.enter_context(
            fakesnow.server(port=self.port or None, host=self.host)
        )
        self.port = int(self.connect_kwargs["port"])

    def _stop(self) -> None:
        assert self._stack is not None
        self._stack.close()
        self._stack = None

    def connections(self) -> dict[str, dict[str, Any]]:
        return {
            self.conn_id: {
                "conn_type": "snowflake",
                "login": self.connect_kwargs.get("user", "fake"),
                "password": self.connect_kwargs.get("password", "snow"),
                "schema": SCHEMA,
                "extra": {
                    "account": "fakesnow",
                    "database": DATABASE,
                    "warehouse": "MLC_WH",
                    "role": "MLC_LOADER",
                    "host": self.public_host,
                    "port": self.port,
                    "protocol": "http",
                    "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
                },
            }
        }
