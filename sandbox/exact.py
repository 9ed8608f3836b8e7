"""Exact Online, played over real HTTP on loopback (reference/exact-online.md §10).

* OAuth 2.0 (``/api/oauth2/auth``, ``/api/oauth2/token``): authorization codes valid 180 s and
  single-use; access tokens valid 600 s with ``expires_in`` as a string; refresh tokens that
  rotate on every use ("Old refresh token used." for a spent one); a refresh less than 570 s
  after the previous token refused ("Rate limit exceeded: access_token not expired"); a Bearer
  header on the token call refused.
* ``current/Me``; the REST, bulk and sync endpoints of :data:`sandbox.exact_data.ENTITIES` with
  ``$select`` required, mandatory filtering, sync filters limited to ``Timestamp gt nL``, pages of
  60 (CRUD) or 1000 (bulk, sync), ``__next`` links, ``$expand=PurchaseEntryLines`` capped at 60
  with a nested ``__next``, and Exact's error body.
* Rate limits per client and division: a clock-aligned window (``window_seconds``, 60 by default;
  scaled down for benchmarks) of ``minutely_limit`` calls and a daily budget, the six
  ``X-RateLimit-*`` headers, 429 over either.
* Faults: the HTTP transport ones plus ``maintenance`` (an HTML page with status 200),
  ``rate_limit`` (a burst of 429s), ``expired_token`` (a 401 as if the token had run out) and
  ``token_lost`` (the token call is applied, then the connection drops), ``next_elsewhere`` (a page's
  ``__next`` points to another host) and ``next_loop`` (a page's ``__next`` is the page itself).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from sandbox.exact_data import ENTITIES, MANDATORY_FILTER, NAVIGATIONS, ExactDivision, ExactSeed, Row

#: SyncTimestamp's endPoint names -> the table behind that sync endpoint
SYNC_TABLES = {"accounts": "accounts", "glaccounts": "glaccounts", "transactionlines": "transactions"}
from sandbox.exact_odata import ODataError, parse_filter, to_json_date
from sandbox.http import DROP, HTTP_TRANSPORT_FAULTS, HttpSandbox, Request, Response

CLIENT_ID = "5d8a3f1e-7c2b-4e4a-9f51-0b6c2d7e9a10"
CLIENT_SECRET = "exact-sandbox-client-secret"  # noqa: S105 - sandbox fixture
ACCESS_TTL, REFRESH_AFTER = 600, 570
MAINTENANCE = "<html><head><title>Exact Online - Onderhoud</title></head><body>Exact Online is tijdelijk niet " \
              "beschikbaar wegens onderhoud.</body></html>"


def _error(message: str, status: int = 400) -> Response:
    return Response.json({"error": {"code": "", "message": {"lang": "", "value": message}}}, status)


class ExactSandbox(HttpSandbox):
    name = "exact"
    supported_faults = HTTP_TRANSPORT_FAULTS | frozenset({"maintenance", "rate_limit", "expired_token", "token_lost",
                                                          "next_elsewhere", "next_loop"})

    def __init__(self, *, seed: ExactSeed | None = None, division: ExactDivision | None = None,
                 minutely_limit: int = 60, daily_limit: int = 5000, window_seconds: float = 60.0,
                 bare_array_for_top: bool = True, **where: Any) -> None:
        super().__init__(request_log_size=100_000, **where)
        self.division = division or ExactDivision()
        if seed is not None:
            self.division.seed(seed)
        self.minutely_limit, self.daily_limit, self.window_seconds = minutely_limit, daily_limit, window_seconds
        self.bare_array_for_top = bare_array_for_top
        self.state = threading.Lock()
        self._fresh_state()

    def _fresh_state(self) -> None:
        self.offset = 0.0  # tests move the sandbox's clock forward instead of sleeping
        self.refresh_token = self._new_token("RT")
        self.refresh_issued = self.now()
        self.last_access_issued = -math.inf
        self.access: dict[str, float] = {}
        self.codes: dict[str, tuple[float, str]] = {}
        self.token_calls = 0
        self.calls: dict[str, int] = {}
        self.window: tuple[int, int] = (0, 0)  # (window index, calls in it)
        self.day: tuple[int, int] = (0, 0)
        self._lines_index: dict[str, tuple[tuple[int, int], dict[str, list[Row]]]] = {}

    def reseed(self, seed: ExactSeed) -> None:
        """A new division from ``seed`` on the same socket, with a new first refresh token (read it again from
        :meth:`connections`): no tokens, counters, calls or faults of before."""
        self.division = ExactDivision()
        self.division.seed(seed)
        self._fresh_state()
        self.clear_faults()
        self.requests.clear()

    # -- clock and helpers ---------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def initial_secrets(self) -> list[str]:
        return [self.refresh_token]

    def _new_token(self, prefix: str) -> str:
        return self.issued(f"{prefix}{secrets.token_urlsafe(24)}!AAAA")  # Exact's tokens carry '!' and need form-encoding

    def connections(self) -> dict[str, dict[str, Any]]:
        return {"exact_online_default": {
            "conn_type": "exact_online", "host": self.url, "login": CLIENT_ID, "password": CLIENT_SECRET,
            "extra": {"division": self.division.number, "refresh_token": self.refresh_token}}}

    # -- dispatch ------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = urlsplit(request.path).path
        if path == "/api/oauth2/auth":
            return self._authorize(request)
        if path == "/api/oauth2/token":
            return self._token(request)
        if not path.startswith("/api/v1/"):
            return Response.text("Not Found", 404, "text/html")
        if self.faults.take("maintenance") is not None:
            return Response.text(MAINTENANCE, 200, "text/html")
        token = request.headers.get("authorization", "")[7:] if request.headers.get("authorization", "").lower() \
            .startswith("bearer ") else ""
        with self.state:
            expires = self.access.get(token)
        if expires is None or expires <= self.now() or self.faults.take("expired_token") is not None:
            return Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                           'error_description="access token expired"'})
        parts = [p for p in path.split("/") if p][2:]
        if parts[:2] == ["current", "Me"]:
            return Response.json({"d": {"results": [{
                "__metadata": {"uri": f"{self.url}/api/v1/current/Me(guid'00000000-0000-0000-0000-000000000001')",
                               "type": "Exact.Web.Api.System.Me"},
                "CurrentDivision": self.division.number, "UserID": "00000000-0000-0000-0000-000000000001",
                "FullName": "ML Connector", "ServerTime": to_json_date(datetime.now()), "ServerUtcOffset": 3600}]}})
        if not parts or not parts[0].isdigit() or int(parts[0]) != self.division.number:
            return _error("Forbidden: no access to this division", 403)
        limited = self._rate_limit()
        if isinstance(limited, Response):
            return limited
        entity = "/".join(parts[1:])
        self.calls[entity.lower()] = self.calls.get(entity.lower(), 0) + 1
        try:
            if entity.lower() == "read/sync/sync/synctimestamp":
                response = self._sync_timestamp(request)
            else:
                response = self._collection(entity, request)
        except ODataError as exc:
            response = _error(str(exc))
        response.headers.update(limited)
        return response

    # -- OAuth ---------------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or not q.get("redirect_uri"):
            return Response.text("Bad Request", 400)
        code = self._new_token("CODE")
        with self.state:
            self.codes[code] = (self.now() + 180, q["redirect_uri"])
        query = urlencode({"code": code, **({"state": q["state"]} if "state" in q else {})})
        sep = "&" if "?" in q["redirect_uri"] else "?"
        return Response(302, b"", {"Location": f"{q['redirect_uri']}{sep}{query}"})

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return Response.text("Method Not Allowed", 405)
        if request.headers.get("authorization"):
            return Response.json({"error": "invalid_client", "error_description": "Authorization header not allowed"},
                                 401)
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Response.json({"error": "invalid_client", "error_description": "Unknown client"}, 401)
        with self.state:
            self.token_calls += 1
            now = self.now()
            if form.get("grant_type") == "authorization_code":
                expires, redirect = self.codes.pop(form.get("code", ""), (0.0, ""))
                if expires < now or redirect != form.get("redirect_uri"):
                    return Response.text("Bad Request", 400)
            elif form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return Response.json({"error": "unauthorized_client",
                                          "error_description": "Old refresh token used."}, 401)
                if now - self.refresh_issued > 30 * 86400:
                    return Response.json({"error": "invalid_request", "error_description":
                                          f"The refresh token expired at {self.refresh_issued + 30 * 86400} and it "
                                          f"is now {now}"}, 400)
                if now - self.last_access_issued < REFRESH_AFTER:
                    return Response.json({"error": "invalid_request",
                                          "error_description": "Rate limit exceeded: access_token not expired"}, 400)
            else:
                return Response.json({"error": "unsupported_grant_type"}, 400)
            access, self.refresh_token = self._new_token("AT"), self._new_token("RT")
            self.access[access] = now + ACCESS_TTL
            self.last_access_issued = self.refresh_issued = now
            answer = {"access_token": access, "token_type": "bearer", "expires_in": str(ACCESS_TTL),
                      "refresh_token": self.refresh_token}
        if self.faults.take("token_lost") is not None:
            return DROP
        return Response.json(answer)

    def revoke(self) -> None:
        """The user withdrew the app's access: every token dies."""
        with self.state:
            self.refresh_token, self.access = self._new_token("RT"), {}

    # -- rate limits ---------------------------------------------------------------------------------
    def _rate_limit(self) -> dict[str, str] | Response:
        now = self.now()
        index = int(now // self.window_seconds)
        reset_ms = str(int((index + 1) * self.window_seconds * 1000))
        day = int(now // 86400)
        day_reset = str((day + 1) * 86400 * 1000)
        with self.state:
            calls = self.window[1] + 1 if self.window[0] == index else 1
            daily = self.day[1] + 1 if self.day[0] == day else 1
            minute_headers = {"X-RateLimit-Minutely-Limit": str(self.minutely_limit),
                              "X-RateLimit-Minutely-Reset": reset_ms}
            if self.faults.take("rate_limit") is not None or calls > self.minutely_limit:
                self.window = (index, max(calls - 1, self.minutely_limit))
                return Response(429, b"", {**minute_headers, "X-RateLimit-Minutely-Remaining": "0"})
            if daily > self.daily_limit:
                return Response(429, b"", {"X-RateLimit-Limit": str(self.daily_limit), "X-RateLimit-Remaining": "0",
                                           "X-RateLimit-Reset": day_reset})
            self.window, self.day = (index, calls), (day, daily)
        return {**minute_headers, "X-RateLimit-Minutely-Remaining": str(self.minutely_limit - calls),
                "X-RateLimit-Limit": str(self.daily_limit), "X-RateLimit-Remaining": str(self.daily_limit - daily),
                "X-RateLimit-Reset": day_reset}

    # -- collections ---------------------------------------------------------------------------------
    def _collection(self, entity: str, request: Request) -> Response:
        found = ENTITIES.get(entity.lower())
        if found is None:
            return _error(f"Resource not found for the segment '{entity.split('/')[-1]}'", 404)
        table, key = found
        kind = "sync" if entity.lower().startswith("sync/") else "bulk" if entity.lower().startswith("bulk/") else "crud"
        q = {k: v[0] for k, v in request.query.items()}
        if "$skip" in q:
            return _error("$skip is not supported for this resource; use the __next link")
        select = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
        if not select and q.get("$top") != "1":
            return _error("Please add a $select or a $top=1 statement to the query string.")
        predicate, fields = parse_filter(q["$filter"]) if q.get("$filter") else ((lambda row: True), set())
        if kind == "sync" and (fields - {"Timestamp"} or "Timestamp" not in fields):
            return _error("This $filter parameter is not supported for this resource")
        mandatory = MANDATORY_FILTER.get(table)
        if kind != "sync" and mandatory and not fields & set(mandatory):
            return _error("This endpoint has mandatory filtering applied. A GET request for this endpoint must have a "
                          f"$filter parameter with one of the following fields in the url:{','.join(mandatory)}")
        size = 1000 if kind != "crud" else 60
        order = "Timestamp" if kind == "sync" else key
        skip = q.get("$skiptoken", "")
        after = skip[5:-1].lower() if skip.startswith("guid'") else (int(skip) if skip.isdigit() else None)
        with self.division.lock:
            rows = [r for r in self.division.tables[table] if predicate(r)]
        rows.sort(key=lambda r: r[order])
        if after is not None:
            rows = [r for r in rows if r[order] > after]
        top = int(q["$top"]) if q.get("$top", "").isdigit() else None
        page = rows[:min(size, top) if top is not None else size]
        expand = {e.strip() for e in q.get("$expand", "").split(",") if e.strip()}
        body: dict[str, Any] = {"results": [self._shape(r, entity, key, select, expand) for r in page]}
        if len(rows) > len(page) and (top is None or top > len(page)):
            last = page[-1][order]
            token = f"guid'{last}'" if order != "Timestamp" else str(last)
            params = {k: v for k, v in q.items() if k != "$skiptoken"}
            params["$skiptoken"] = token
            body["__next"] = f"{self.url}/api/v1/{self.division.number}/{entity}?" + "&".join(
                f"{k}={quote(v, safe=chr(39) + '(),$ ')}".replace(" ", "%20") for k, v in params.items())
        if "__next" in body and self.faults.take("next_elsewhere") is not None:
            body["__next"] = body["__next"].replace(self.url, "http://exact-online.example.net", 1)
        elif self.faults.take("next_loop") is not None:
            body["__next"] = f"{self.url}/api/v1/{self.division.number}/{entity}?" + "&".join(
                f"{k}={quote(v, safe=chr(39) + '(),$ ')}".replace(" ", "%20") for k, v in q.items())
        if top is not None and self.bare_array_for_top and "__next" not in body:
            return Response.json({"d": body["results"]})  # the other shape Exact uses (§4.3)
        return Response.json({"d": body})

    def _sync_timestamp(self, request: Request) -> Response:
        """``read/sync/Sync/SyncTimestamp?modified=datetime'…'&endPoint='…'``: the row version of the first record of
        that sync endpoint modified at or after the date (an empty result when none is), to start a sync there."""
        q = {k: v[0] for k, v in request.query.items()}
        modified, endpoint = q.get("modified", ""), q.get("endPoint", "").strip("'")
        table = SYNC_TABLES.get(endpoint.lower())
        if not modified.startswith("datetime'") or table is None:
            return _error("Both parameters modified (datetime'…') and endPoint (a sync endpoint) are required")
        since = datetime.fromisoformat(modified[len("datetime'"):-1])
        with self.division.lock:
            rows = sorted((r for r in self.division.tables[table] if r.get("Modified") and r["Modified"] >= since),
                          key=lambda r: r["Timestamp"])
        first = rows[:1]
        return Response.json({"d": {"results": [
            {"API": endpoint, "Modified": to_json_date(r["Modified"]), "TimeStampAsBigInt": r["Timestamp"]}
            for r in first]}})

    def _shape(self, row: Row, entity: str, key: str, select: list[str], expand: set[str]) -> Row:
        uri = f"{self.url}/api/v1/{self.division.number}/{entity}(guid'{row[key]}')"
        out: Row = {"__metadata": {"uri": uri, "type": f"Exact.Web.Api.Models.{entity.split('/')[-1]}"}}
        own = [s for s in select if "/" not in s] or list(row)
        own += sorted({s.split("/", 1)[0] for s in select if "/" in s} - set(own))  # Nav/Field selects the Nav
        for name in own:
            if name in NAVIGATIONS:
                out[name] = self._lines(name, row[key], [s.split("/", 1)[1] for s in select
                                                         if s.startswith(name + "/")]) \
                    if name in expand else {"__deferred": {"uri": f"{uri}/{name}"}}
                continue
            if name not in row:
                raise ODataError(f"Property '{name}' does not exist on type '{entity.split('/')[-1]}'")
            value = row[name]
            out[name] = to_json_date(value) if isinstance(value, datetime) else value
        return out

    def _lines(self, navigation: str, parent: str, select: list[str]) -> dict[str, Any]:
        """An expanded navigation property (an entry's or an order's lines): its first 60, then a __next link."""
        table, parent_key, entity = NAVIGATIONS[navigation]
        with self.division.lock:
            lines = self.division.tables[table]
            cached = self._lines_index.get(navigation, ((0, -1), {}))
            if cached[0] != (id(lines), len(lines)):  # an index by parent, rebuilt when lines change
                index: dict[str, list[Row]] = {}
                for line in lines:
                    index.setdefault(line[parent_key], []).append(line)
                cached = self._lines_index[navigation] = ((id(lines), len(lines)), index)
            rows = sorted(cached[1].get(parent, []), key=lambda r: r["ID"])
        page = rows[:60]
        body: dict[str, Any] = {"results": [self._shape(r, entity, "ID", select, set()) for r in page]}
        if len(rows) > 60:
            body["__next"] = (f"{self.url}/api/v1/{self.division.number}/{entity}?$select={','.join(select)}"
                              f"&$filter={parent_key}%20eq%20guid'{parent}'&$skiptoken=guid'{page[-1]['ID']}'")
        return body


