"""IBM Sterling B2B Integrator's REST APIs (``/B2BAPIs/svc/``), played over real HTTP on loopback
(reference/sterling.md §4–7, §10).

* HTTP Basic authentication, or a Bearer token from the OAuth 2.0 client-credentials endpoint
  ``/oauth/token`` (as Sterling B2B Integration SaaS offers): tokens live ``token_seconds``; the fault
  ``revoke_tokens`` makes every token issued so far invalid (401), as a rotated client secret would.
  ``doc`` answers as the API browser does (the health probe).
* ``useraccounts/<id>``: the API user's own account with its groups and permissions (``admin_user=True``:
  in the Admin group, as a careless setup leaves it).
* ``communities``, ``tradingpartners`` (GET list / by name, POST, PUT, DELETE), ``mailboxes``,
  ``mailboxcontents?parentMailboxId=``, ``mailboxmessages``, ``messagebatches`` (multipart
  ``upstream`` + ``mailboxName``) and ``documents`` (base64 ``payload``).
* Lists page with ``_range=a-b`` (0-based, inclusive) and filter with ``searchFor``; creates answer
  ``{"Location": ...}``, updates and deletes ``{"rowsAffected": n}``; errors
  ``{"errorCode", "errorDescription"}`` with 400/404; GET wraps booleans and enums as
  ``{"code", "display"}``.
* Creating a partner creates its mailbox ``/<partner>`` only, as B2Bi does (IBM, "About mailboxes"):
  a client that delivers into ``/<partner>/Inbox`` must create that mailbox first (POST ``mailboxes``,
  with ``createParentMailbox``); a mailbox that exists answers 400 "already exists".
* The blank-id DELETE hazard is real here: ``DELETE tradingpartners/`` removes every partner (so a
  test can prove the client never sends one).
* Faults: the HTTP transport ones (``http_5xx``, ``slow``, ``drop``, ``malformed``) and ``revoke_tokens``.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox.http import HTTP_TRANSPORT_FAULTS, HttpSandbox, Request, Response

BASE = "/B2BAPIs/svc"
USER, PASSWORD = "mlc_api", "sterling-sandbox-password"  # noqa: S105 - sandbox fixture
CLIENT_ID, CLIENT_SECRET = "mlc-airflow", "sterling-sandbox-client-secret"  # noqa: S105 - sandbox fixture
TOKEN_PATH = "/oauth/token"
REQUIRED_PARTNER = ("partnerName", "code", "community", "authenticationType", "emailAddress", "phone", "givenName",
                    "surname", "username")
BOOLEANS = ("isInitiatingConsumer", "isInitiatingProducer", "isListeningConsumer", "isListeningProducer", "doesUseSSH",
            "useGlobalMailbox", "extractableAlways")


def _error(status: int, code: str, description: str) -> Response:
    return Response.json({"errorCode": code, "errorDescription": description}, status)


def _wrap(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in BOOLEANS:
        if key in out and isinstance(out[key], bool):
            out[key] = {"code": out[key], "display": "Yes" if out[key] else "No"}
    if "authenticationType" in out:
        out["authenticationType"] = {"code": out["authenticationType"], "display": out["authenticationType"]}
    return out


class SterlingSandbox(HttpSandbox):
    name = "sterling"
    supported_faults = HTTP_TRANSPORT_FAULTS | {"revoke_tokens"}

    def __init__(self, *, communities: tuple[str, ...] = ("MLC Suppliers", "Retail Partners"),
                 inbound: dict[str, int] | None = None, token_seconds: float = 3600, admin_user: bool = False,
                 **where: Any) -> None:
        super().__init__(**where)
        self.token_seconds, self.admin_user = token_seconds, admin_user
        self.tokens: dict[str, float] = {}  # access token -> when it expires (time.time())
        self.tokens_issued = 0
        self.lock = threading.RLock()
        self.community_names, self.inbound = communities, inbound
        self._fresh_state()

    def _fresh_state(self) -> None:
        communities, inbound = self.community_names, self.inbound
        self.ids = itertools.count(1001)
        self.communities = {name: {"_id": name, "name": name} for name in communities}
        self.partners: dict[str, dict[str, Any]] = {}
        self.mailboxes: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.documents: dict[str, bytes] = {}
        for path in ("/MLC", "/MLC/Inbound"):
            self.mailbox(path)
        for path, count in (inbound if inbound is not None else {"/MLC/Inbound": 3}).items():
            for n in range(1, count + 1):
                self.deliver(path, f"997_{n:04d}.x12", _inbound_997(n))

    def reseed(self) -> None:
        """Back to the first state on the same socket: the communities and the inbound messages only, no faults."""
        with self.lock:
            self._fresh_state()
        self.clear_faults()
        self.requests.clear()

    # -- state helpers (tests use them too) ----------------------------------------------------------
    def mailbox(self, path: str) -> dict[str, Any]:
        with self.lock:
            found = next((m for m in self.mailboxes.values() if m["path"] == path), None)
            if found:
                return found
            parent = path.rsplit("/", 1)[0]
            if parent:
                self.mailbox(parent)
            box = {"mailboxId": next(self.ids), "path": path, "name": path.rsplit("/", 1)[-1], "mailboxType": "R",
                   "description": f"{path} mailbox"}
            self.mailboxes[box["mailboxId"]] = box
            return box

    def deliver(self, path: str, name: str, data: bytes) -> dict[str, Any]:
        """Put a message into a mailbox, as a partner's upload or a routing rule would."""
        with self.lock:
            box = self.mailbox(path)
            document = f"sandbox:node1:{next(self.ids):x}:{len(self.documents) + 1}"
            self.documents[document] = data
            created = datetime.now(timezone.utc) - timedelta(seconds=1)
            message = {"id": next(self.ids), "messageId": None, "mailboxId": box["mailboxId"], "mailboxPath": path,
                       "name": name, "documentId": document, "size": len(data), "extractableAlways": True,
                       "creationDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
            message["messageId"] = message["id"]
            self.messages[message["id"]] = message
            return message

    def messages_in(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages.values() if m["mailboxPath"] == path]

    def connections(self, oauth: bool = False) -> dict[str, dict[str, Any]]:
        """``sterling_default`` with Basic authentication, or (``oauth``) with the client credentials and token URL."""
        extra: dict[str, Any] = {"base_path": BASE}
        if oauth:
            extra.update(token_url=f"{self.url}{TOKEN_PATH}", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        return {"sterling_default": {"conn_type": "sterling", "host": self.host, "port": self.port, "schema": "http",
                                     "login": USER, "password": PASSWORD, "extra": extra}}

    def _token(self, request: Request) -> Response:
        """RFC 6749 §4.4: ``grant_type=client_credentials`` with the client's id and secret in the form (or Basic)."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client, _, secret = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
        if form.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type"}, 400)
        if (client, secret) != (CLIENT_ID, CLIENT_SECRET):
            return Response.json({"error": "invalid_client", "error_description": "Client authentication failed"},
                                 401)
        token = self.issued(secrets.token_urlsafe(32))
        with self.lock:
            self.tokens[token] = time.time() + self.token_seconds
            self.tokens_issued += 1
        return Response.json({"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_seconds)})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            if self.faults.take("revoke_tokens") is not None:
                with self.lock:
                    self.tokens.clear()
            with self.lock:
                return self.tokens.get(header[7:], 0) > time.time()
        return header == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def _useraccounts(self, request: Request, ident: str) -> Response:
        if ident != USER:
            return _error(404, "API000404", f"User account {ident} not found")
        groups = ["APIUsers", *(["Admin"] if self.admin_user else [])]
        permissions = ["API User", "Mailbox Global Query", "Trading Partner", *(["UI Accounts"] if self.admin_user
                                                                                 else [])]
        return Response.json({"userId": USER, "authenticationType": "Local", "groups": [{"name": g} for g in groups],
                              "permissions": [{"name": p} for p in permissions]})

    # -- dispatch ------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if not request.path.startswith(BASE + "/"):
            return Response.text("Not Found", 404, "text/html")
        if not self._authorized(request):
            return Response(401, b"", {"WWW-Authenticate": 'Basic realm="B2BAPIs"'})
        parts = [unquote(p) for p in request.path[len(BASE) + 1:].split("/")]
        resource, ident = parts[0], "/".join(p for p in parts[1:] if p)
        if resource == "doc":
            return Response.text("<html><body>B2B REST API browser</body></html>", 200, "text/html")
        handler = getattr(self, f"_{resource}", None)
        if handler is None:
            return _error(404, "API000404", f"Unknown resource {resource}")
        with self.lock:
            return handler(request, ident)

    def _page(self, request: Request, rows: list[dict[str, Any]], searchable: tuple[str, ...]) -> Response:
        search = request.query.get("searchFor", [""])[0].lower()
        if search:
            rows = [r for r in rows if any(search in str(r.get(f, "")).lower() for f in searchable)]
        low, _, high = request.query.get("_range", ["0-99"])[0].partition("-")
        try:
            start, end = int(low), int(high or low)
        except ValueError:
            return _error(400, "API000100", "_range must look like 0-99")
        return Response.json([_wrap(r) for r in rows[start:end + 1]])

    def _communities(self, request: Request, ident: str) -> Response:
        if ident:
            return Response.json(self.communities[ident]) if ident in self.communities else \
                _error(404, "API000160", f"Community {ident} not found")
        return self._page(request, sorted(self.communities.values(), key=lambda c: c["name"]), ("name",))

    def _tradingpartners(self, request: Request, ident: str) -> Response:
        if request.method == "GET":
            if ident:
                partner = self.partners.get(ident)
                return Response.json(_wrap(partner)) if partner else _error(404, "API000161",
                                                                           f"Trading partner {ident} not found")
            return self._page(request, sorted(self.partners.values(), key=lambda p: p["partnerName"]),
                              ("partnerName", "code"))
        if request.method == "DELETE":
            names = [ident] if ident else list(self.partners)  # the real blank-id hazard
            for name in names:
                self.partners.pop(name, None)
            return Response.json({"rowsAffected": len(names)})
        body = request.json() or {}
        if request.method == "POST":
            missing = [f for f in REQUIRED_PARTNER if not body.get(f)]
            if missing:
                return _error(400, "API000120", f"Missing required field(s): {', '.join(missing)}")
            if body["community"] not in self.communities:
                return _error(404, "API000160", f"Community {body['community']} not found")
            if body["partnerName"] in self.partners:
                return _error(400, "API000130", f"Trading partner {body['partnerName']} already exists")
            record = {k: v for k, v in body.items() if k != "password"}
            record.update({"_id": body["partnerName"], "_title": body["partnerName"]})
            self.partners[body["partnerName"]] = record
            self.mailbox(f"/{body['partnerName']}")
            return Response.json({"Location": f"{self.url}{BASE}/tradingpartners/{body['partnerName']}"}, 201)
        if request.method == "PUT":
            if ident not in self.partners:
                return _error(404, "API000161", f"Trading partner {ident} not found")
            self.partners[ident].update({k: v for k, v in body.items() if k not in ("password", "partnerName")})
            return Response.json({"rowsAffected": 1})
        return _error(400, "API000405", f"{request.method} not supported")

    def _mailboxes(self, request: Request, ident: str) -> Response:
        if request.method == "POST":
            body = request.json() or {}
            path = str(body.get("path") or "")
            if not path.startswith("/") or path.endswith("/"):
                return _error(400, "API000120", "Missing or invalid required field(s): path")
            with self.lock:
                if any(m["path"] == path for m in self.mailboxes.values()):
                    return _error(400, "API000130", f"Mailbox {path} already exists")
                parent = path.rsplit("/", 1)[0]
                if parent and not any(m["path"] == parent for m in self.mailboxes.values()) \
                        and str(body.get("createParentMailbox")).lower() != "true":
                    return _error(404, "API000170", f"Parent mailbox {parent} not found")
                box = self.mailbox(path)
            return Response.json({"Location": f"{self.url}{BASE}/mailboxes/{box['mailboxId']}"}, 201)
        if ident:
            box = self.mailboxes.get(int(ident)) if ident.isdigit() else None
            return Response.json(box) if box else _error(404, "API000170", f"Mailbox {ident} not found")
        return self._page(request, sorted(self.mailboxes.values(), key=lambda m: m["path"]), ("path",))

    def _mailboxcontents(self, request: Request, ident: str) -> Response:
        parent = request.query.get("parentMailboxId", [""])[0]
        if not parent.isdigit() or int(parent) not in self.mailboxes:
            return _error(404, "API000170", f"Mailbox {parent} not found")
        path = self.mailboxes[int(parent)]["path"]
        children = [{"id": m["mailboxId"], "name": m["name"], "type": "mailbox", "description": m["description"]}
                    for m in self.mailboxes.values() if m["path"].rsplit("/", 1)[0] == path and m["path"] != path]
        items = children + [{"id": m["id"], "name": m["name"], "type": "message", "documentId": m["documentId"],
                             "size": m["size"], "extractableAlways": True, "creationDate": m["creationDate"]}
                            for m in sorted(self.messages.values(), key=lambda m: m["id"]) if m["mailboxPath"] == path]
        return self._page(request, items, ("name",))

    def _mailboxmessages(self, request: Request, ident: str) -> Response:
        if request.method == "GET":
            message = self.messages.get(int(ident)) if ident.isdigit() else None
            return Response.json(_wrap(message)) if message else _error(404, "API000180", f"Message {ident} not found")
        if request.method == "DELETE":
            if not ident:
                count = len(self.messages)
                self.messages.clear()
                return Response.json({"rowsAffected": count})
            return Response.json({"rowsAffected": 1 if self.messages.pop(int(ident), None) else 0})
        body = request.json() or {}
        if body.get("documentId") not in self.documents:
            return _error(404, "API000190", f"Document {body.get('documentId')} not found")
        if not any(m["path"] == body.get("mailboxPath") for m in self.mailboxes.values()):
            return _error(404, "API000170", f"Mailbox {body.get('mailboxPath')} not found")
        message = self.deliver(body["mailboxPath"], body.get("name") or "message", self.documents[body["documentId"]])
        return Response.json({"Location": f"{self.url}{BASE}/mailboxmessages/{message['id']}"}, 201)

    def _messagebatches(self, request: Request, ident: str) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _error(400, "API000200", "messagebatches takes multipart/form-data")
        parsed = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
        files, mailbox = [], None
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "mailboxName":
                mailbox = part.get_content().strip() if isinstance(part.get_content(), str) else \
                    part.get_payload(decode=True).decode().strip()
            elif name == "upstream":
                files.append((part.get_filename() or "message", part.get_payload(decode=True) or b""))
        if not mailbox or not any(m["path"] == mailbox for m in self.mailboxes.values()):
            return _error(404, "API000170", f"Mailbox {mailbox} not found")
        if not files:
            return _error(400, "API000201", "no upstream part")
        ids = [self.deliver(mailbox, name, data)["id"] for name, data in files]
        return Response.json({"Location": f"{self.url}{BASE}/messagebatches/{','.join(map(str, ids))}"}, 201)

    def _documents(self, request: Request, ident: str) -> Response:
        if request.method == "GET":
            data = self.documents.get(ident)
            return Response.json({"documentId": ident, "payload": base64.b64encode(data).decode()}) if data is not None \
                else _error(404, "API000190", f"Document {ident} not found")
        payload = (request.json() or {}).get("payload", "")
        document = f"sandbox:node1:{next(self.ids):x}:{len(self.documents) + 1}"
        self.documents[document] = base64.b64decode(payload)
        return Response.json({"Location": f"{self.url}{BASE}/documents/{document}"}, 201)


def _inbound_997(n: int) -> bytes:
    """A partner's 997 as it lands in the inbound mailbox."""
    body = [f"GS*FA*ACMESUPPLY*MLCBUYER*20261117*0900*{n}*X*004010", f"ST*997*{n:04d}", f"AK1*IN*{n}", "AK9*A*1*1*1",
            f"SE*4*{n:04d}", f"GE*1*{n}", f"IEA*1*{n:09d}"]
    isa = (f"ISA*00*{' ' * 10}*00*{' ' * 10}*ZZ*{'ACMESUPPLY':<15}*ZZ*{'MLCBUYER':<15}*261117*0900*U*00401*"
           f"{n:09d}*0*P*>")
    return ("~\n".join([isa, *body]) + "~\n").encode()
