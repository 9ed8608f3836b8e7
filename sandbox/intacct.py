"""The Sage Intacct XML gateway, played on loopback (reference/intacct.md, section 10).

POST ``/ia/xml/xmlgw.phtml`` with a DTD 3.0 request; the answer has the control, authentication
and result levels of the real gateway, business errors with HTTP 200. getAPISession hands out a
session with a sliding ``sessiontimeout`` and an endpoint on another path (``/pod2/...``), so a
client that does not follow it is visible in the request log. Writes with ``uniqueid=true`` are
deduplicated on the function controlid. Data lives in :class:`~sandbox.intacct_data.IntacctStore`.

Faults (besides the HTTP ones of :class:`~sandbox.http.HttpSandbox`): ``expired_session``,
``rate_limit`` (429 GW-0010), ``too_many_operations`` (200024), ``offline`` ("Temporarily
Off-line"), ``commit_then_524`` and ``commit_then_drop`` (the write is committed, the answer is
lost), ``cloudflare_200`` (an HTML page with status 200), ``mutate_between_pages`` (records
already served are modified before the next page), ``entity_bomb`` (an answer with a DOCTYPE),
``empty_page`` (a query page with no records although ``numremaining`` says more remain),
``bad_markup`` (a record's end tag misspelt: an answer no cleaning can make well-formed).

Text goes out as the gateway writes it (:func:`gateway_text`): control characters that real
companies hold become character references (``&#27;``, ``&#x1F;``) or stay raw bytes (BEL), both
of which XML 1.0 forbids; a client must take them out before parsing.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from sandbox.http import DROP, HTTP_TRANSPORT_FAULTS, HttpSandbox, Request, Response
from sandbox.intacct_data import (KEY_FIELD, NATURAL_ID, OWNED, SCHEMAS, IntacctStore, Seed, column,
                                  render_value)
from sandbox.intacct_filters import FilterError, Typer, query_filter, read_by_query_where
from sandbox.intacct_writes import WriteError, create_record

GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
POD_PATH = "/pod2/ia/xml/xmlgw.phtml"
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_CLOUDFLARE = ("<!DOCTYPE html><html><head><title>Error 524</title></head><body><div id=\"cf-error-details\">"
               "<h1>A timeout occurred</h1><p>The origin web server timed out responding to this request.</p>"
               "</div></body></html>")
SENDER_ID, SENDER_PASSWORD = "mlc_sandbox_sender", "sandbox-sender-password"  # noqa: S105 - sandbox fixture
USER_ID, USER_PASSWORD, COMPANY_ID = "mlc_api", "sandbox-user-password", "MLC-DEMO"  # noqa: S105
SECOND_COMPANY_ID = "MLC-WEST"  # the demo's second company: connection intacct_west


class Fail(Exception):
    """One function's failure: ``errors`` are (errorno, description, description2, correction)."""

    def __init__(self, *errors: tuple[str, str, str, str]) -> None:
        super().__init__(errors[0][1])
        self.errors = errors


def _error_xml(errors: tuple[tuple[str, str, str, str], ...]) -> str:
    return "<errormessage>" + "".join(
        "<error>" + "".join(f"<{tag}>{escape(value)}</{tag}>" for tag, value in
                            zip(("errorno", "description", "description2", "correction"), error)) + "</error>"
        for error in errors) + "</errormessage>"


def gateway_text(value: str) -> str:
    """Text as the gateway writes it: ``& < >`` escaped, control characters as decimal references (hex for the
    information separators 0x1C..0x1F), BEL as the raw byte. XML 1.0 allows none of these three forms."""
    text = escape(value)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group() if m.group() == "\x07" else
                        (f"&#x{ord(m.group()):X};" if ord(m.group()) >= 0x1C else f"&#{ord(m.group())};"), text)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class IntacctSandbox(HttpSandbox):
    name = "intacct"
    supported_faults = HTTP_TRANSPORT_FAULTS | frozenset({
        "expired_session", "rate_limit", "too_many_operations", "offline", "commit_then_524", "commit_then_drop",
        "cloudflare_200", "mutate_between_pages", "entity_bomb", "empty_page", "bad_markup"})

    def __init__(self, *, store: IntacctStore | None = None, seed: Seed | None = None,
                 session_seconds: float = 7200, user_offset_hours: float = 0, duplicate_controlid: str = "replay",
                 max_in_flight: int = 2, hold_seconds: float = 30, result_ttl_seconds: float = 600,
                 expired_session_style: str = "authentication", **where: Any) -> None:
        super().__init__(**where)
        self._company = threading.local()  # the company of the request this thread serves
        self.companies: dict[str, IntacctStore] = {}
        self.store = store or IntacctStore()
        if seed is not None:
            self.store.seed(seed)
        self._fresh_state()
        self.session_seconds = session_seconds
        self.offset = timedelta(hours=user_offset_hours)
        self.duplicate_controlid = duplicate_controlid
        self.hold_seconds, self.result_ttl = hold_seconds, result_ttl_seconds
        self.expired_session_style = expired_session_style
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self.users = {(COMPANY_ID, USER_ID): USER_PASSWORD}
        self.senders = {SENDER_ID: (SENDER_PASSWORD, {COMPANY_ID})}

    @property
    def store(self) -> IntacctStore:
        """The data of the company the current request signed in to (the first company outside a request)."""
        return self.companies[getattr(self._company, "id", None) or COMPANY_ID]

    @store.setter
    def store(self, store: IntacctStore) -> None:
        self.companies[COMPANY_ID] = store

    def add_company(self, company_id: str, store: IntacctStore) -> None:
        """Serve another company on the same gateway: same Web Services sender, same API user name and password
        (each company has its own users in Intacct; these just happen to match), its own data, sessions and
        write history (control ids are kept per sender and company)."""
        self.companies[company_id] = store
        self.users[(company_id, USER_ID)] = USER_PASSWORD
        self.senders[SENDER_ID][1].add(company_id)

    def _fresh_state(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        # (sender, company, function controlid) -> the answer of its first successful run. Functions
        # run one at a time under the store's lock, so a duplicate never finds its twin in process.
        self.done_functions: dict[tuple[str, str, str], str] = {}
        self.result_sets: dict[str, dict[str, Any]] = {}

    def reseed(self, seed: Seed) -> None:
        """A new company from ``seed`` on the same socket: no records, sessions, write history or faults of before
        (the fault matrix runs each case of a DAG against the same servers)."""
        self.store = IntacctStore()
        self.store.seed(seed)
        self._fresh_state()
        self.clear_faults()
        self.requests.clear()

    # -- plumbing ----------------------------------------------------------------------------------
    def connections(self) -> dict[str, dict[str, Any]]:
        """``intacct_default`` for the first company, and ``intacct_<company>`` for each other one."""
        return {"intacct_default" if company == COMPANY_ID else "intacct_" + company.split("-")[-1].lower(): {
            "conn_type": "intacct", "host": f"{self.url}{GATEWAY_PATH}", "login": USER_ID, "password": USER_PASSWORD,
            "extra": {"sender_id": SENDER_ID, "sender_password": SENDER_PASSWORD, "company_id": company}}
            for company in self.companies}

    def _now(self) -> datetime:
        return datetime.now(timezone.utc).replace(microsecond=0)

    def handle(self, request: Request) -> Response:
        if request.path not in (GATEWAY_PATH, POD_PATH):
            return Response.text("Not Found", 404, "text/html")
        if request.method != "POST":
            return Response.text("<html><body>Method Not Allowed</body></html>", 405, "text/html")
        if self.faults.take("rate_limit") is not None:
            return self._control_failure("GW-0010", "Rate limit exceeded. Please retry later.", status=429)
        if self.faults.take("cloudflare_200") is not None:
            return Response.text(_CLOUDFLARE.replace("524", "520"), 200, "text/html")
        if (fault := self.faults.take("entity_bomb")) is not None:
            return Response(200, fault.params.get("body", "").encode() or _BOMB, {"Content-Type": "text/xml"})
        try:
            root = etree.fromstring(request.body, _SAFE_PARSER)
        except etree.XMLSyntaxError as exc:
            return self._control_failure("XL03000003", f"XML Parse schema error: {exc}", "")
        if root.tag != "request" or root.find("control") is None or root.find("operation") is None:
            return self._control_failure("XL03000003", "XML Parse schema error: expected request/control/operation", "")
        control = root.find("control")
        echo = {tag: control.findtext(tag) or "" for tag in ("senderid", "controlid", "uniqueid", "dtdversion")}
        sender = self.senders.get(echo["senderid"])
        if sender is None or sender[0] != (control.findtext("password") or ""):
            return self._control_failure("XL03000006", "Incorrect Intacct XML Partner ID or password.", "", echo=echo)
        if echo["dtdversion"] != "3.0":
            return self._control_failure("XL03000003", f"XML Parse schema error: dtdversion {echo['dtdversion']}"
                                         " is not supported by this gateway", "", echo=echo)
        if not self._in_flight.acquire(timeout=self.hold_seconds):
            return self._everything_failed(root, echo, ("200024", "There are too many operations running for this "
                                                        "company (200024)", "", "Try again later."))
        try:
            return self._operate(root, echo, sender[1], request)
        finally:
            self._in_flight.release()

    def _control_failure(self, errorno: str, description: str, description2: str = "", *, status: int = 200,
                         echo: dict[str, str] | None = None) -> Response:
        echo = echo or {}
        body = (f"<response><control><status>failure</status><senderid>{escape(echo.get('senderid', ''))}</senderid>"
                f"<controlid>{escape(echo.get('controlid', ''))}</controlid><uniqueid>{escape(echo.get('uniqueid', ''))}"
                f"</uniqueid><dtdversion>3.0</dtdversion></control>"
                f"{_error_xml(((errorno, description, description2, ''),))}</response>")
        return self._xml(body, status)

    def _xml(self, body: str, status: int = 200) -> Response:
        return Response(status, ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode(), {"Content-Type": "text/xml"})

    def _control_ok(self, echo: dict[str, str]) -> str:
        return (f"<control><status>success</status><senderid>{escape(echo['senderid'])}</senderid><controlid>"
                f"{escape(echo['controlid'])}</controlid><uniqueid>{escape(echo['uniqueid'] or 'false')}</uniqueid>"
                "<dtdversion>3.0</dtdversion></control>")

    def _everything_failed(self, root: etree._Element, echo: dict[str, str], error: tuple[str, str, str, str]) -> Response:
        results = "".join(self._result(fn, "failure", errors=(error,)) for fn in root.iterfind("operation/content/function"))
        auth = "<authentication><status>success</status></authentication>"
        return self._xml(f"<response>{self._control_ok(echo)}<operation>{auth}{results}</operation></response>")

    # -- authentication ----------------------------------------------------------------------------
    def _authenticate(self, auth: etree._Element | None, companies: set[str]) -> dict[str, Any] | tuple[str, str]:
        """The session (dict) or an (errorno, description) failure."""
        if auth is None:
            return ("XL03000006", "Sign-in information is incorrect")
        sid = auth.findtext("sessionid")
        if sid is not None:
            session = self.sessions.get(sid.strip())
            if session is not None and self.faults.take("expired_session") is not None:
                session["expires"] = time.time() - 1
            if session is None or session["expires"] <= time.time():
                return ("XL03000006", "Invalid session")
            session["expires"] = time.time() + self.session_seconds  # sliding
            return session
        login = auth.find("login")
        if login is None:
            return ("XL03000006", "Sign-in information is incorrect")
        company, user = login.findtext("companyid") or "", login.findtext("userid") or ""
        if company not in companies:
            return ("XL03000006", "Invalid Web Services Authorization")
        if self.users.get((company, user)) != (login.findtext("password") or ""):
            return ("XL03000006", "Sign-in information is incorrect")
        return {"company": company, "user": user, "location": login.findtext("locationid") or "", "sid": None,
                "expires": time.time() + self.session_seconds}

    def _auth_block(self, session: dict[str, Any]) -> str:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        timeout = datetime.fromtimestamp(session["expires"], timezone.utc).replace(microsecond=0)
        return (f"<authentication><status>success</status><userid>{escape(session['user'])}</userid>"
                f"<companyid>{escape(session['company'])}</companyid><locationid>{escape(session['location'])}"
                f"</locationid><sessiontimestamp>{now.isoformat()}</sessiontimestamp>"
                f"<sessiontimeout>{timeout.isoformat()}</sessiontimeout></authentication>")

    # -- operation ---------------------------------------------------------------------------------
    def _operate(self, root: etree._Element, echo: dict[str, str], companies: set[str], request: Request) -> Response:
        operation = root.find("operation")
        session = self._authenticate(operation.find("authentication"), companies)
        if isinstance(session, dict):
            self._company.id = session["company"]
            try:
                return self._operate_as(operation, root, echo, session, request)
            finally:
                self._company.id = None
        return self._operate_as(operation, root, echo, session, request)

    def _operate_as(self, operation: etree._Element, root: etree._Element, echo: dict[str, str],
                    session: dict[str, Any] | tuple[str, str], request: Request) -> Response:
        if isinstance(session, tuple):
            if self.expired_session_style == "401" and session[1] == "Invalid session":
                return self._control_failure("XMLGW_JPP0002", "Sign-in information is incorrect. Please check your "
                                             "request.", status=401, echo=echo)
            auth = "<authentication><status>failure</status></authentication>"
            return self._xml(f"<response>{self._control_ok(echo)}<operation>{auth}"
                             f"{_error_xml(((session[0], session[1], '', ''),))}</operation></response>")
        functions = list(operation.iterfind("content/function"))
        if not functions:
            return self._control_failure("XL03000003", "XML Parse schema error: content has no function", echo=echo)
        unique = echo["uniqueid"].strip().lower() == "true"
        transaction = operation.get("transaction", "false").lower() == "true"
        if any(fn.find("getAPISession") is not None for fn in functions) and len(functions) > 1:
            return self._control_failure("XL03000003", "XML Parse schema error: getAPISession must be alone in its "
                                         "request", echo=echo)
        commit_fault = self.faults.peek("commit_then_524") or self.faults.peek("commit_then_drop")
        writes = any(self._is_write(fn) for fn in functions)
        results = self._run_functions(functions, session, echo, unique, transaction, request)
        body = f"<response>{self._control_ok(echo)}<operation>{self._auth_block(session)}{results}</operation></response>"
        if "</RECORDNO>" in body and self.faults.take("bad_markup") is not None:
            body = body.replace("</RECORDNO>", "</RECORDN0>", 1)
        if writes and commit_fault is not None:
            if self.faults.take("commit_then_524") is not None:
                return Response.text(_CLOUDFLARE, 524, "text/html")
            if self.faults.take("commit_then_drop") is not None:
                return DROP
        return self._xml(body)

    @staticmethod
    def _is_write(fn: etree._Element) -> bool:
        return any(child.tag in ("create", "update", "delete") for child in fn)

    def _run_functions(self, functions: list[etree._Element], session: dict[str, Any], echo: dict[str, str],
                       unique: bool, transaction: bool, request: Request) -> str:
        out: list[str] = []
        with self.store.lock:
            self.store.db.execute("BEGIN")
            failed = False
            for fn in functions:
                controlid = fn.get("controlid", "")
                dedupe = (echo["senderid"], session["company"], controlid) if unique and self._is_write(fn) else None
                if dedupe is not None and dedupe in self.done_functions:
                    if self.duplicate_controlid == "replay":
                        out.append(self.done_functions[dedupe])
                    else:
                        out.append(self._result(fn, "failure", errors=((
                            "XL03000004", f"A successful transaction has already been recorded with the control "
                            f"ID {controlid}.", "", "Use a unique control ID."),)))
                    continue
                self.store.db.execute("SAVEPOINT fn")
                try:
                    if self.faults.take("too_many_operations") is not None:
                        raise Fail(("200024", "There are too many operations running for this company (200024)",
                                    "", "Try again later."))
                    if self.faults.take("offline") is not None:
                        raise Fail(("XL03000001", "The Service is Temporarily Off-line [Support ID: sbx%7E1]", "",
                                    "Please Try Again Later"))
                    xml = self._function(fn, session, request)
                    self.store.db.execute("RELEASE fn")
                except (Fail, FilterError, WriteError) as exc:
                    self.store.db.execute("ROLLBACK TO fn")
                    self.store.db.execute("RELEASE fn")
                    errors = exc.errors if isinstance(exc, (Fail, WriteError)) else (("Query Failed", str(exc), "", ""),)
                    xml = self._result(fn, "failure", errors=errors)
                    failed = True
                out.append(xml)
                if dedupe is not None and "<status>success</status>" in xml:
                    self.done_functions[dedupe] = xml
            if transaction and failed:
                self.store.db.execute("ROLLBACK")
                out = [x if "<status>failure</status>" in x else self._result(
                    fn, "aborted", errors=(("XL03000009", "The entire transaction in this operation has been rolled "
                                            "back due to an error.", "", ""),)) for x, fn in zip(out, functions)]
                for fn in functions:
                    self.done_functions.pop((echo["senderid"], session["company"], fn.get("controlid", "")), None)
            else:
                self.store.db.execute("COMMIT")
        return "".join(out)

    def _result(self, fn: etree._Element, status: str, data: str = "", errors: tuple = ()) -> str:
        name = next((child.tag for child in fn if isinstance(child.tag, str)), "")
        return (f"<result><status>{status}</status><function>{escape(name)}</function><controlid>"
                f"{escape(fn.get('controlid', ''))}</controlid>{data}{_error_xml(errors) if errors else ''}</result>")

    def _function(self, fn: etree._Element, session: dict[str, Any], request: Request) -> str:
        body = next((child for child in fn if isinstance(child.tag, str)), None)
        if body is None:
            raise Fail(("XL03000003", "XML Parse schema error: empty function", "", ""))
        handler = getattr(self, f"_fn_{body.tag}", None)
        if handler is None:
            raise Fail(("XL03000003", f"XML Parse schema error: unknown function {body.tag}", "", ""))
        return self._result(fn, "success", handler(body, session, request))

    # -- functions ---------------------------------------------------------------------------------
    def _fn_getAPISession(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:  # noqa: N802
        sid = self.issued(secrets.token_urlsafe(24) + "..")
        location = body.findtext("locationid")
        new = dict(session, sid=sid, location=location if location is not None else session["location"],
                   expires=time.time() + self.session_seconds)
        self.sessions[sid] = new
        session.update(new)  # the authentication block of this answer describes the new session
        host = request.headers.get("host") or f"{self.public_host}:{self.port}"
        return (f"<data><api><sessionid>{sid}</sessionid><endpoint>http://{escape(host)}{POD_PATH}</endpoint>"
                f"<locationid>{escape(new['location'])}</locationid></api></data>")

    def _object(self, body: etree._Element) -> str:
        obj = (body.findtext("object") or "").strip().upper()
        if obj not in SCHEMAS:
            raise Fail(("Query Failed", f"Object definition {obj or '(none)'} not found", "", ""))
        return obj

    def _fields(self, obj: str, names: list[str]) -> list[str]:
        schema = SCHEMAS[obj]
        if names == ["*"]:
            return list(schema)
        wrong = [n for n in names if n.upper() not in schema]
        if wrong:
            raise Fail(("Query Failed", f"Invalid field(s) {', '.join(wrong)} for object {obj}", "", ""))
        return [n.upper() for n in names]

    def _records(self, obj: str, tag: str, fields: list[str], rows: list[tuple], owned: bool = False) -> str:
        schema = SCHEMAS[obj]
        parts = []
        for row in rows:
            inner = "".join(f"<{f}>{gateway_text(render_value(schema[f], v, self.offset))}</{f}>"
                            for f, v in zip(fields, row))
            if owned and obj in OWNED:
                inner += self._owned(obj, row[fields.index(KEY_FIELD[obj])])
            parts.append(f"<{tag}>{inner}</{tag}>")
        return "".join(parts)

    def _owned(self, obj: str, key: int) -> str:
        group, child, parent = OWNED[obj]
        fields = list(SCHEMAS[child])
        order = "LINE_NO" if child == "APBILLITEM" else "RECORDNO"
        rows = self.store.select(f"SELECT {', '.join(map(column, fields))} FROM {column(child)} WHERE {column(parent)} = ?"
                                 f" ORDER BY {column(order)}", [key])
        return f"<{group}>{self._records(child, child, fields, rows)}</{group}>"

    def _fn_query(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:
        obj = self._object(body)
        fields = self._fields(obj, [f.text or "" for f in body.iterfind("select/field")] or ["(none)"])
        options = body.find("options")
        ci = options is not None and (options.findtext("caseinsensitive") or "").lower() == "true"
        pagesize = self._int(body.findtext("pagesize"), 100, "pagesize")
        offset = self._int(body.findtext("offset"), 0, "offset")
        if not 1 <= pagesize <= 2000:
            raise Fail(("Query Failed", f"pagesize {pagesize} is out of range: 1 to 2000", "", ""))
        params: list[Any] = []
        where = "1 = 1"
        filt = body.find("filter")
        if filt is not None:
            ops = [c for c in filt if isinstance(c.tag, str)]
            if len(ops) != 1:
                raise Fail(("Query Failed", "filter must hold exactly one operator", "", ""))
            where = query_filter(ops[0], Typer(SCHEMAS[obj], self.offset, codes=False, case_insensitive=ci), params)
        order = []
        for item in body.iterfind("orderby/order"):
            name = (item.findtext("field") or "").upper()
            if name not in SCHEMAS[obj]:
                raise Fail(("Query Failed", f"Invalid orderby field {name}", "", ""))
            order.append(f"{column(name)} {'DESC' if item.find('descending') is not None else 'ASC'}")
        order_sql = ", ".join(order) or column(KEY_FIELD[obj])
        if offset and (fault := self.faults.take("mutate_between_pages")) is not None:
            self._mutate(obj, where, params, order_sql, int(fault.params.get("count", 1)))
        total = self.store.select(f"SELECT COUNT(*) FROM {column(obj)} WHERE {where}", params)[0][0]
        rows = self.store.select(f"SELECT {', '.join(map(column, fields))} FROM {column(obj)} WHERE {where} "
                                 f"ORDER BY {order_sql} LIMIT ? OFFSET ?", [*params, pagesize, offset])
        remaining = max(0, total - offset - len(rows))
        if rows and self.faults.take("empty_page") is not None:
            remaining, rows = remaining + len(rows), []  # a hiccup: nothing on this page, though records remain
        return (f'<data listtype="{obj}" totalcount="{total}" offset="{offset}" count="{len(rows)}" '
                f'numremaining="{remaining}">{self._records(obj, obj, fields, rows)}</data>')

    def _mutate(self, obj: str, where: str, params: list[Any], order_sql: str, count: int) -> None:
        """Another user edits records we already served: their WHENMODIFIED moves to now."""
        keys = [r[0] for r in self.store.select(f"SELECT {column(KEY_FIELD[obj])} FROM {column(obj)} WHERE {where} "
                                                f"ORDER BY {order_sql} LIMIT ?", [*params, count])]
        self.store.touch(obj, keys)

    @staticmethod
    def _int(text: str | None, default: int, name: str) -> int:
        if text is None or not text.strip():
            return default
        try:
            return int(text)
        except ValueError:
            raise Fail(("Query Failed", f"{name} must be a number, not {text!r}", "", "")) from None

    def _fn_readByQuery(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:  # noqa: N802
        obj = self._object(body)
        fields = self._fields(obj, [f.strip() for f in (body.findtext("fields") or "*").split(",") if f.strip()] or ["*"])
        pagesize = self._int(body.findtext("pagesize"), 100, "pagesize")
        if not 1 <= pagesize <= 1000:
            raise Fail(("Query Failed", f"pagesize {pagesize} is out of range: 1 to 1000", "", ""))
        params: list[Any] = []
        where = read_by_query_where(body.findtext("query") or "", Typer(SCHEMAS[obj], self.offset, codes=True), params)
        result_id = secrets.token_hex(12)
        self.result_sets[result_id] = {"obj": obj, "fields": fields, "where": where, "params": params, "served": 0,
                                       "pagesize": pagesize, "sid": session.get("sid"), "expires": time.time() + self.result_ttl}
        return self._result_page(result_id, "readByQuery")

    def _fn_readMore(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:  # noqa: N802
        result_id = (body.findtext("resultId") or "").strip()
        state = self.result_sets.get(result_id)
        if state is None or state["expires"] < time.time() or state["sid"] != session.get("sid"):
            self.result_sets.pop(result_id, None)
            raise Fail(("Query Failed", f"Invalid or expired resultId {result_id}", "", "Run the query again."))
        if (fault := self.faults.take("mutate_between_pages")) is not None:
            self._mutate(state["obj"], state["where"], state["params"], column(KEY_FIELD[state["obj"]]),
                         int(fault.params.get("count", 1)))
        return self._result_page(result_id, "readMore")

    def _result_page(self, result_id: str, _function: str) -> str:
        state = self.result_sets[result_id]
        obj, fields = state["obj"], state["fields"]
        total = self.store.select(f"SELECT COUNT(*) FROM {column(obj)} WHERE {state['where']}", state["params"])[0][0]
        rows = self.store.select(f"SELECT {', '.join(map(column, fields))} FROM {column(obj)} WHERE {state['where']} "
                                 f"ORDER BY {column(KEY_FIELD[obj])} LIMIT ? OFFSET ?",
                                 [*state["params"], state["pagesize"], state["served"]])
        state["served"] += len(rows)
        remaining = max(0, total - state["served"])
        if not remaining:
            self.result_sets.pop(result_id, None)
        return (f'<data listtype="{obj.lower()}" count="{len(rows)}" totalcount="{total}" numremaining="{remaining}" '
                f'resultId={quoteattr(result_id if remaining else "")}>{self._records(obj, obj.lower(), fields, rows)}</data>')

    def _fn_read(self, body: etree._Element, session: dict[str, Any], request: Request, by: str | None = None) -> str:
        obj = self._object(body)
        fields = self._fields(obj, [f.strip() for f in (body.findtext("fields") or "*").split(",") if f.strip()] or ["*"])
        keys = [k.strip() for k in (body.findtext("keys") or "").split(",") if k.strip()]
        if len(keys) > 100:
            raise Fail(("Query Failed", "read takes at most 100 keys", "", ""))
        key_field = by or KEY_FIELD[obj]
        if KEY_FIELD[obj] not in fields:
            fields = [KEY_FIELD[obj], *fields]
        rows = self.store.select(f"SELECT {', '.join(map(column, fields))} FROM {column(obj)} WHERE {column(key_field)} "
                                 f"IN ({', '.join('?' * len(keys))}) ORDER BY {column(KEY_FIELD[obj])}", keys) if keys else []
        return f'<data listtype="{obj}" count="{len(rows)}">{self._records(obj, obj, fields, rows, owned=True)}</data>'

    def _fn_readByName(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:  # noqa: N802
        obj = self._object(body)
        if obj not in NATURAL_ID:
            raise Fail(("Query Failed", f"readByName is not available for {obj}", "", ""))
        return self._fn_read(body, session, request, by=NATURAL_ID[obj])

    def _fn_create(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:
        created = []
        for record in body:
            if not isinstance(record.tag, str):
                continue
            obj = record.tag.upper()
            key, natural = create_record(self.store, obj, record, self.offset)
            ident = f"<{NATURAL_ID[obj]}>{escape(natural)}</{NATURAL_ID[obj]}>" if natural is not None else ""
            created.append(f"<{obj.lower()}><RECORDNO>{key}</RECORDNO>{ident}</{obj.lower()}>")
        return f'<data listtype="objects" count="{len(created)}">{"".join(created)}</data>'

    def _fn_delete(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:
        obj = self._object(body)
        for key in [k.strip() for k in (body.findtext("keys") or "").split(",") if k.strip()]:
            if not self.store.delete(obj, int(key)):
                raise Fail(("BL01001973", f"Could not delete {obj} record {key}: not found", "", ""))
        return '<data listtype="objects" count="0"></data>'

    def _fn_readUserFormatting(self, body: etree._Element, session: dict[str, Any], request: Request) -> str:  # noqa: N802
        minutes = int(self.offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        gmt = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        return (f"<data><userformatting><locale>en_US</locale><dateformat>/mdY</dateformat><gmtoffset>{gmt}"
                f"</gmtoffset><clock>24</clock></userformatting></data>")


_BOMB = (b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
         b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b'<response><control><status>success</status></control><operation><authentication><status>success</status>'
         b'</authentication><result><status>success</status><function>query</function><controlid>&c;&x;</controlid>'
         b'</result></operation></response>')

__all__ = ["IntacctSandbox", "Seed", "GATEWAY_PATH", "POD_PATH"]
