"""The connection form's Test button for ml-connector's connection types whose port is hidden (intacct,
exact_online).

The UI sends ``"port": 0`` for a hidden port, while a connection stored without one (from the CLI, an
environment variable, a JSON import) has none; Airflow then takes the test for one of another endpoint, refuses
to reuse the stored (masked) secrets and answers 400 with nothing shown on the button. This root middleware,
registered by ``plugins/mlc_ui_plugin.py``, drops that ``0`` from ``POST /api/v2/connections/test`` for those
types only, so the stored secrets are used, as for any connection whose endpoint did not change. Any other
request, and any body it cannot read as such a test, passes untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlc.provider import EXACT_ONLINE, INTACCT

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

#: connection types whose form hides the port
HIDDEN_PORT_TYPES = frozenset(spec["connection-type"] for spec in (INTACCT, EXACT_ONLINE)
                              if "port" in spec["ui-field-behaviour"]["hidden-fields"])
PATH = "/api/v2/connections/test"
MAX_BODY = 1 << 20  # a connection test's body is a few hundred bytes; a larger one passes untouched


def without_hidden_port(body: bytes) -> bytes:
    """The test request's body without the ``port`` the form made up for a hidden field, else unchanged."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if (isinstance(data, dict) and data.get("conn_type") in HIDDEN_PORT_TYPES and "port" in data
            and data["port"] in (0, "0", "", None)):
        del data["port"]
        return json.dumps(data).encode()
    return body


class HiddenPortMiddleware:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").endswith(PATH):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it as it came
                await self.app(scope, _replay(body, message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if more:  # too large to be a test from the form: hand on what was read, then the rest
            await self.app(scope, _replay(body, None, receive, more=True), send)
            return
        fixed = without_hidden_port(body)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(fixed)).encode()))
        await self.app({**scope, "headers": headers}, _replay(fixed, None, receive), send)


def _replay(body: bytes, last: Message | None, receive: Callable[[], Awaitable[Message]], *,
            more: bool = False) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives ``body`` first (then ``last``, if any), then whatever comes from the client."""
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": more or last is not None}]
    if last is not None:
        queue.append(last)

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay
