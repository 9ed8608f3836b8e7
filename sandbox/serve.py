"""Run the whole sandbox in one process: ``python -m sandbox.serve --workdir DIR --state FILE``.

Starts every server of :func:`sandbox.servers.build_servers` plus a control server, writes a state
file (the ``AIRFLOW_CONN_*`` variables that reach the servers, the control URL, the SFTP root)
once everything listens, and stops everything on SIGINT or SIGTERM. Faults are armed from other
processes through the control server: ``POST /faults/<server>`` with ``{name, times, params}``,
``DELETE /faults/<server>``, ``GET /servers``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sandbox.base import SandboxServer, airflow_connections, connection_env, running
from sandbox.http import HttpSandbox, Request, Response, fault_control
from sandbox.servers import build_servers

log = logging.getLogger("sandbox")


class ControlServer(HttpSandbox):
    """Arms and clears faults on the other servers of this process, over HTTP."""

    name = "control"

    def __init__(self, servers: list[SandboxServer], **where: Any) -> None:
        super().__init__(**where)
        self.servers = {server.name: server for server in servers}

    def connections(self) -> dict[str, dict]:
        return {}

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["servers"] and request.method == "GET":
            return Response.json({
                name: {"port": s.port, "supported": sorted(s.supported_faults), "armed": s.faults.armed()}
                for name, s in self.servers.items()
            })
        if len(parts) == 2 and parts[0] == "faults" and parts[1] in self.servers:
            return fault_control(self.servers[parts[1]], request)
        return Response.json({"error": f"no route for {request.method} {request.path}"}, 404)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="where the servers keep their files")
    parser.add_argument("--state", type=Path, required=True, help="JSON file written once all servers listen")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--public-host", default=None, help="host name the connections use (default: --host)")
    parser.add_argument("--port", action="append", default=[], metavar="SERVER=PORT",
                        help="fix a server's port, e.g. sftp=2222 (repeatable; control=PORT for the control server)")
    parser.add_argument("--connections-file", type=Path, default=None,
                        help="also write the connections in `airflow connections import` format")
    args = parser.parse_args(argv)
    ports = {name: int(port) for name, _, port in (spec.partition("=") for spec in args.port)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    servers = build_servers(args.workdir.resolve(), args.host, args.public_host, ports)
    control = ControlServer(servers, host=args.host, port=ports.get("control", 0), public_host=args.public_host)
    for server in servers:
        server.issued_secrets = args.workdir.resolve() / "issued-secrets.txt"
        for secret in server.initial_secrets():
            server.issued(secret)
    with running(*servers, control):
        state = {
            "pid": os.getpid(),
            "control_url": control.url,
            "sftp_root": str((args.workdir / "sftp").resolve()),
            "mail_url": next((s.url for s in servers if s.name == "mail"), None),  # the alerts' inbox page
            "servers": {s.name: {"host": s.public_host, "port": s.port} for s in servers},
            "env": connection_env(servers),
        }
        if args.connections_file:
            args.connections_file.write_text(json.dumps(airflow_connections(servers), indent=2))
        tmp = args.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(args.state)
        log.info("sandbox ready: %s", ", ".join(f"{s.name}={s.public_host}:{s.port}" for s in servers))
        stop.wait()
        log.info("sandbox stopping")
    args.state.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
