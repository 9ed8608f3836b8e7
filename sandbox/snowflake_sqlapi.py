"""Snowflake's SQL API v2 (``/api/v2/statements``), played on loopback over fakesnow
(reference/snowflake.md §3): fakesnow has no SQL API, so this server runs each statement on the
fakesnow server through the Snowflake connector and answers as Snowflake does:

* ``POST /api/v2/statements?requestId=…&async=true``: a key-pair JWT is required (RS256, checked
  against the sandbox user's public key, ``iss`` = ``ACCOUNT.USER.SHA256:<fingerprint>``); 202 with
  a ``statementHandle``; the statement runs in the background;
* ``GET /api/v2/statements/<handle>``: 202 while it runs, 200 with ``resultSetMetaData`` and
  ``data`` (values as strings) when done, 422 with ``code``, ``message``, ``sqlState`` on error.
* Faults: ``rate_limit`` (the next POSTs answer 429), ``slow_statement`` (the statement stays
  "running" for ``polls`` more GETs), and the HTTP transport ones.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from sandbox.http import HTTP_TRANSPORT_FAULTS, HttpSandbox, Request, Response
from sandbox.snowflake import SNOWFLAKE_KEY, SnowflakeSandbox

PUBLIC_KEY = SNOWFLAKE_KEY.with_suffix(".pub")


def _fingerprint() -> str:
    public = serialization.load_pem_public_key(PUBLIC_KEY.read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


class SnowflakeSqlApiSandbox(HttpSandbox):
    name = "snowflake_sqlapi"
    supported_faults = HTTP_TRANSPORT_FAULTS | frozenset({"rate_limit", "slow_statement"})

    def __init__(self, warehouse: SnowflakeSandbox, **where: Any) -> None:
        super().__init__(**where)
        self.warehouse = warehouse
        warehouse.sql_api = self
        self.lock = threading.Lock()
        self._fresh_state()
        # Snowflake's UPDATE, DELETE and MERGE hold locks that keep them from running in parallel with each
        # other (Snowflake docs, "Transactions: resource locking"); the sandbox runs one statement at a time.
        self.dml_lock = threading.Lock()

    def _fresh_state(self) -> None:
        self.statements: dict[str, dict[str, Any]] = {}
        self.executed: list[str] = []

    def reseed(self) -> None:
        """No statements or faults of before (the warehouse's :meth:`SnowflakeSandbox.reseed` gives a new database)."""
        self._fresh_state()
        self.clear_faults()
        self.requests.clear()

    def connections(self) -> dict[str, dict[str, Any]]:
        return {}  # the warehouse's connection names this server in its sql_api_url extra

    def _authorised(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or request.headers.get("x-snowflake-authorization-token-type") != "KEYPAIR_JWT":
            return "a KEYPAIR_JWT bearer token is required"
        try:
            claims = jwt.decode(auth[7:], PUBLIC_KEY.read_bytes(), algorithms=["RS256"], options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            return f"JWT refused: {exc}"
        if not str(claims.get("iss", "")).endswith(_fingerprint()):
            return "JWT issuer does not carry the registered public key's fingerprint"
        return None

    def handle(self, request: Request) -> Response:
        if not request.path.startswith("/api/v2/statements"):
            return Response.json({"message": "Not found"}, 404)
        problem = self._authorised(request)
        if problem:
            return Response.json({"code": "390144", "message": problem}, 401)
        parts = [p for p in request.path.split("/") if p]
        if request.method == "POST" and len(parts) == 3:
            if self.faults.take("rate_limit") is not None:
                return Response.json({"code": "000429", "message": "Too many requests"}, 429)
            body = request.json() or {}
            handle = str(uuid.uuid4())
            entry = {"sql": body.get("statement", ""), "done": False, "polls": 0, "result": None, "error": None}
            if (fault := self.faults.take("slow_statement")) is not None:
                entry["polls"] = int(fault.params.get("polls", 3))
            with self.lock:
                self.statements[handle] = entry
            threading.Thread(target=self._run, args=(handle, body), daemon=True).start()
            return Response.json({"statementHandle": handle, "message": "Asynchronous execution in progress."}, 202)
        if request.method == "GET" and len(parts) == 4:
            entry = self.statements.get(parts[3])
            if entry is None:
                return Response.json({"code": "000404", "message": f"Statement {parts[3]} not found"}, 404)
            with self.lock:
                running = not entry["done"] or entry["polls"] > 0
                if entry["done"] and entry["polls"] > 0:
                    entry["polls"] -= 1
            if running:
                return Response.json({"statementHandle": parts[3], "message": "Asynchronous execution in progress."},
                                     202)
            if entry["error"]:
                return Response.json({"code": "002003", "message": entry["error"], "sqlState": "42S02",
                                      "statementHandle": parts[3]}, 422)
            names, rows = entry["result"]
            return Response.json({"statementHandle": parts[3], "message": "Statement executed successfully.",
                                  "resultSetMetaData": {"numRows": len(rows), "format": "jsonv2",
                                                        "rowType": [{"name": n} for n in names], "partitionInfo": [{}]},
                                  "data": [[None if v is None else str(v) for v in row] for row in rows]})
        return Response.json({"message": f"{request.method} not supported"}, 405)

    def _run(self, handle: str, body: dict[str, Any]) -> None:
        entry = self.statements[handle]
        extra = self.warehouse.connections()[self.warehouse.conn_id]["extra"]
        with self.dml_lock:
            self._execute(entry, body, extra)
        entry["done"] = True

    def _execute(self, entry: dict[str, Any], body: dict[str, Any], extra: dict[str, Any]) -> None:
        import snowflake.connector

        try:
            conn = snowflake.connector.connect(
                user="fake", password="snow", account="fakesnow", host=self.warehouse.host, port=self.warehouse.port,
                protocol="http", database=body.get("database") or extra["database"],
                schema=body.get("schema") or "PUBLIC", network_timeout=30)
            try:
                cursor = conn.cursor()
                cursor.execute(entry["sql"])
                names = [d[0] for d in cursor.description or []]
                rows = cursor.fetchall() if cursor.description else []
                conn.commit()
                entry["result"] = (names, rows)
                self.executed.append(entry["sql"])
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - the client gets it as a 422
            entry["error"] = str(exc)
