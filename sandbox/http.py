"""The HTTP flavour of the sandbox shape, for the system emulators (Intacct, Exact, Sterling).

A subclass implements :meth:`HttpSandbox.handle` (one :class:`Request` in, one :class:`Response`
out) and gets, for free: a threaded server on a free loopback port, a bounded log of requests,
the transport faults every HTTP system shows (``http_5xx``, ``slow``, ``drop``, ``malformed``,
``answer_lost``: the request is carried out, then the connection closes without an answer, as
when a client times out after the server committed, and ``cut_body``: the request is carried out
and the answer is cut off half-way, its Content-Length promising more, as a proxy does),
and a control endpoint under ``/__sandbox__/`` so that another process (the demo, the fault
matrix) can arm faults over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.base import SandboxServer

CONTROL_PREFIX = "/__sandbox__"
HTTP_TRANSPORT_FAULTS = frozenset({"http_5xx", "slow", "drop", "malformed", "answer_lost", "cut_body"})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})


#: Answer with nothing and close the connection (a write that committed, then the link died).
DROP = Response(status=-1)


def fault_control(server: SandboxServer, request: Request) -> Response:
    """Fault control of ``server`` over HTTP: GET lists, POST arms ``{name, times, params}``, DELETE clears."""
    if request.method == "GET":
        return Response.json({"server": server.name, "supported": sorted(server.supported_faults),
                              "armed": server.faults.armed()})
    if request.method == "DELETE":
        server.clear_faults(request.query.get("name", [None])[0])
        return Response.json({"armed": server.faults.armed()})
    if request.method == "POST":
        spec = request.json() or {}
        try:
            server.inject(spec["name"], spec.get("times", 1), **spec.get("params", {}))
        except (KeyError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json({"armed": server.faults.armed()}, 201)
    return Response.json({"error": "method not allowed"}, 405)


def _take(sandbox: HttpSandbox, name: str, request: Request):
    """Consume fault ``name`` for this request; a ``body_contains`` or ``path_contains`` param aims it at matching
    requests only."""
    fault = sandbox.faults.peek(name)
    if fault is None:
        return None
    needle = fault.params.get("body_contains")
    if needle and str(needle).encode() not in request.body:
        return None
    if fault.params.get("path_contains") and str(fault.params["path_contains"]) not in request.path:
        return None
    return sandbox.faults.take(name)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            self.command, split.path, parse_qs(split.query), {k.lower(): v for k, v in self.headers.items()}, body
        )
        if split.path.startswith(CONTROL_PREFIX):
            self._send(sandbox.control(request))
            return
        sandbox.requests.append(request)
        if (fault := _take(sandbox, "slow", request)) is not None:
            time.sleep(float(fault.params.get("seconds", 2.0)))
        if _take(sandbox, "drop", request) is not None:
            # Close without an answer, as a load balancer does when a backend dies mid-request.
            self.close_connection = True
            self.connection.close()
            return
        if (fault := _take(sandbox, "http_5xx", request)) is not None:
            status = int(fault.params.get("status", 503))
            self._send(Response.text(fault.params.get("body", "Service Unavailable"), status))
            return
        response = sandbox.handle(request)
        if response is DROP or _take(sandbox, "answer_lost", request) is not None:
            self.close_connection = True
            self.connection.close()
            return
        if _take(sandbox, "malformed", request) is not None:
            response = Response(200, b"<html><body>Bad gateway</bo", {"Content-Type": "text/html"})
        if _take(sandbox, "cut_body", request) is not None:
            self._send(response, cut=True)
            self.close_connection = True
            self.connection.close()
            return
        self._send(response)

    def _send(self, response: Response, cut: bool = False) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body[:len(response.body) // 2] if cut else response.body)
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: tests and the demo read the request log instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: HttpSandbox


class HttpSandbox(SandboxServer):
    """Base for HTTP emulators. Subclasses implement :meth:`handle` and :meth:`connections`."""

    supported_faults = HTTP_TRANSPORT_FAULTS

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None, request_log_size: int = 1000
    ) -> None:
        super().__init__(host, port, public_host)
        self.requests: deque[Request] = deque(maxlen=request_log_size)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.public_host}:{self.port}"

    def handle(self, request: Request) -> Response:
        """Answer one request as the real system would."""
        raise NotImplementedError

    def control(self, request: Request) -> Response:
        """Serve ``/__sandbox__/faults`` for this server (see :func:`fault_control`)."""
        if request.path != f"{CONTROL_PREFIX}/faults":
            return Response.json({"error": f"unknown control path {request.path}"}, 404)
        return fault_control(self, request)

    def _start(self) -> None:
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.sandbox = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"sandbox-{self.name}", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None
