"""IntacctHook: Sage Intacct's XML gateway with sessions, retries and typed errors.

* **Sessions**: ``getAPISession`` alone in its request; later calls go to the endpoint it
  returns. Sessions are shared per (endpoint, sender, company, user, entity) across hook
  instances of one worker process, under a lock, and renewed when the ``sessiontimeout`` of the
  last answer is near or after ``max_session_age`` (50 minutes), whichever comes first. An
  invalid-session answer gets one fresh login and one retry.
* **Retries**: transient failures (429/GW-0010, 200024, "Temporarily Off-line", 5xx, Cloudflare
  pages, timeouts on reads) are retried under the deployment's :class:`~mlc.hooks.retry.RetryPolicy`
  (exponential backoff, full jitter, ``Retry-After`` honoured); everything else
  fails at once with the gateway's errorno, description and correction. Writes are never resent
  blindly: see :mod:`mlc.hooks.intacct_writes`.
* **Secrets**: request bodies (they hold both passwords and the session id) are never logged;
  the session id is registered with Airflow's secret masker.

Reads and writes live in :mod:`mlc.hooks.intacct_reads` and :mod:`mlc.hooks.intacct_writes`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests
from airflow.sdk import BaseHook

from mlc.hooks.extras import connection_extras
from mlc.hooks.masking import mask
from mlc.hooks.retry import CUT_OFF, RetryPolicy, parse_retry_after, retrying
from mlc.hooks.intacct_reads import IntacctReads
from mlc.hooks.intacct_writes import IntacctWrites
from mlc.hooks.intacct_xml import (DEFAULT_MAX_BYTES, Function, IntacctError, IntacctProtocolError, IntacctTransportError,
                               Result, build_request, get_api_session, parse_response)

if TYPE_CHECKING:
    import tenacity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntacctConfig:
    endpoint: str
    sender_id: str
    sender_password: str
    company_id: str
    user_id: str
    user_password: str
    entity_id: str | None
    timezone: ZoneInfo

    @property
    def session_key(self) -> tuple[str, ...]:
        return (self.endpoint, self.sender_id, self.company_id, self.user_id, self.entity_id or "")


@dataclass
class _Session:
    session_id: str
    endpoint: str
    expires_at: datetime | None
    created_at: float


_SESSIONS: dict[tuple[str, ...], _Session] = {}
_SESSION_LOCKS: dict[tuple[str, ...], threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()


def _session_lock(key: tuple[str, ...]) -> threading.Lock:
    with _REGISTRY_LOCK:
        return _SESSION_LOCKS.setdefault(key, threading.Lock())


def _parse_timeout(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)



class IntacctHook(IntacctReads, IntacctWrites, BaseHook):
    """Talk to one Sage Intacct company through the XML gateway (DTD 3.0).

    :param intacct_conn_id: connection with host = gateway URL, login/password = Web Services
        user, extra ``sender_id``, ``sender_password``, ``company_id``, optional ``entity_id``
        and ``timezone`` (the Web Services user's time zone; GMT is recommended).
    """

    conn_name_attr = "intacct_conn_id"
    default_conn_name = "intacct_default"
    conn_type = "intacct"
    hook_name = "Sage Intacct"

    def __init__(self, intacct_conn_id: str = default_conn_name, *, timeout: float = 300.0,
                 max_session_age: timedelta = timedelta(minutes=50), session_margin: timedelta = timedelta(minutes=5),
                 retry: RetryPolicy | None = None, write_batch_size: int = 50, max_response_bytes: int = DEFAULT_MAX_BYTES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.intacct_conn_id = intacct_conn_id
        self.timeout = timeout
        self.max_session_age, self.session_margin = max_session_age, session_margin
        self._retry = retry
        self.write_batch_size = write_batch_size
        self.max_response_bytes = max_response_bytes
        self.requests_sent = 0
        #: every record read that held characters XML forbids, taken out: ``{"object", "key", "fields"}``
        self.cleaned: list[dict[str, Any]] = []

    # -- configuration -----------------------------------------------------------------------------
    @cached_property
    def config(self) -> IntacctConfig:
        conn = self.get_connection(self.intacct_conn_id)
        extra = connection_extras(conn, self.conn_type)
        missing = [name for name in ("sender_id", "sender_password", "company_id") if not extra.get(name)]
        if missing or not conn.host or not conn.login:
            raise ValueError(f"Connection {self.intacct_conn_id!r} lacks {', '.join(missing or ['host/login'])}: "
                             "host = gateway URL, login/password = Web Services user, extra sender_id, "
                             "sender_password, company_id")
        endpoint = conn.host if "://" in conn.host else f"https://{conn.host}"
        if conn.port and f":{conn.port}" not in endpoint:
            scheme, rest = endpoint.split("://", 1)
            host, _, path = rest.partition("/")
            endpoint = f"{scheme}://{host}:{conn.port}/{path}"
        if endpoint.rstrip("/").count("/") <= 2:
            endpoint = endpoint.rstrip("/") + "/ia/xml/xmlgw.phtml"
        for secret in (conn.password, extra["sender_password"]):
            if secret:
                mask(secret)
        return IntacctConfig(endpoint=endpoint, sender_id=extra["sender_id"], sender_password=extra["sender_password"],
                             company_id=extra["company_id"], user_id=conn.login, user_password=conn.password or "",
                             entity_id=extra.get("entity_id") or None,
                             timezone=ZoneInfo(extra.get("timezone") or "UTC"))

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy given to this hook, else the deployment's (read at each use)."""
        return self._retry or RetryPolicy.configured()

    @property
    def tz(self) -> ZoneInfo:
        return self.config.timezone

    @cached_property
    def _http(self) -> requests.Session:
        http = requests.Session()
        http.headers.update({"Content-Type": "application/xml", "Accept-Encoding": "gzip, deflate",
                             "User-Agent": "ml-connector-intacct/1.0"})
        return http

    # -- transport ---------------------------------------------------------------------------------
    def _post(self, url: str, body: bytes, record_tags: Sequence[str], what: str = ""
              ) -> tuple[int, list[Result], str | None]:
        """One HTTP exchange; returns (status, results, sessiontimeout) or raises a typed error."""
        self.requests_sent += 1
        try:
            with self._http.post(url, data=body, timeout=(30, self.timeout), stream=True) as answer:
                status = answer.status_code
                kind = answer.headers.get("Content-Type", "")
                if "html" in kind.lower() or status == 524 or (status >= 500 and "xml" not in kind.lower()):
                    page = answer.raw.read(4096, decode_content=True) or b""
                    cloudflare = b"cf-error-details" in page or status in (520, 521, 522, 523, 524)
                    raise IntacctTransportError(
                        f"Intacct answered HTTP {status} with {'a Cloudflare' if cloudflare else 'an HTML or empty'} "
                        "page instead of XML", http_status=status, retryable=status not in (400, 401, 403, 404),
                        maybe_applied=status >= 500 or status == 200)
                try:
                    parsed = parse_response(answer.iter_content(65536), http_status=status,
                                            max_bytes=self.max_response_bytes, record_tags=record_tags, what=what)
                except (IntacctError, IntacctTransportError) as exc:
                    exc.retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                    raise
        except requests.ConnectTimeout as exc:
            raise IntacctTransportError(f"connecting to Intacct timed out: {type(exc).__name__}") from None
        except requests.ReadTimeout:
            raise IntacctTransportError(f"Intacct did not answer within {self.timeout:g} s",
                                        maybe_applied=True) from None
        except CUT_OFF as exc:
            raise IntacctTransportError(f"the answer was cut off mid-body: {type(exc).__name__}",
                                        maybe_applied=True) from None
        except requests.ConnectionError as exc:
            raise IntacctTransportError(f"the connection to Intacct failed: {type(exc).__name__}",
                                        maybe_applied=True) from None
        return status, parsed.results, parsed.session_timeout

    def _send(self, session: _Session, functions: Sequence[Function], *, transaction: bool, unique_id: bool,
              record_tags: Sequence[str], what: str = "") -> list[Result]:
        cfg = self.config
        body = build_request(sender_id=cfg.sender_id, sender_password=cfg.sender_password,
                             control_id=str(uuid.uuid4()), functions=functions, session_id=session.session_id,
                             unique_id=unique_id, transaction=transaction)
        started = time.monotonic()
        status, results, timeout = self._post(session.endpoint, body, record_tags,
                                              what or ",".join(f.name for f in functions))
        session.expires_at = _parse_timeout(timeout) or session.expires_at
        log.debug("Intacct %s: HTTP %s in %.2f s", ",".join(f.name for f in functions), status,
                  time.monotonic() - started)
        return results

    # -- sessions ----------------------------------------------------------------------------------
    def _session(self, *, force: bool = False) -> _Session:
        cfg = self.config
        with _session_lock(cfg.session_key):
            session = _SESSIONS.get(cfg.session_key)
            if session is not None and not force and self._fresh(session):
                return session
            session = self._login()
            _SESSIONS[cfg.session_key] = session
            return session

    def _fresh(self, session: _Session) -> bool:
        if time.monotonic() - session.created_at >= self.max_session_age.total_seconds():
            return False
        if session.expires_at is None:
            return True
        return datetime.now(timezone.utc) < session.expires_at - self.session_margin

    def _login(self) -> _Session:
        cfg = self.config
        login = {"userid": cfg.user_id, "companyid": cfg.company_id, "password": cfg.user_password}
        body = build_request(sender_id=cfg.sender_id, sender_password=cfg.sender_password,
                             control_id=str(uuid.uuid4()), functions=[get_api_session("getAPISession", cfg.entity_id)],
                             login=login)
        for attempt in self._retrying(is_write=False):
            with attempt:
                _status, results, timeout = self._post(cfg.endpoint, body, ())
                result = results[0] if results else None
                if result is None or not result.ok or not result.records:
                    raise result.error() if result is not None else IntacctProtocolError("getAPISession gave no result")
        api = result.records[0]
        session_id, endpoint = (api.get("sessionid") or "").strip(), (api.get("endpoint") or "").strip()
        if not session_id:
            raise IntacctProtocolError("getAPISession answered without a session id")
        mask(session_id)
        log.info("Intacct session opened for company %s user %s%s (endpoint %s, valid until %s)", cfg.company_id,
                 cfg.user_id, f" entity {cfg.entity_id}" if cfg.entity_id else "", endpoint or cfg.endpoint, timeout)
        return _Session(session_id, endpoint or cfg.endpoint, _parse_timeout(timeout), time.monotonic())

    @classmethod
    def forget_sessions(cls) -> None:
        """Drop every cached session of this process (tests, and after a password change)."""
        with _REGISTRY_LOCK:
            _SESSIONS.clear()

    # -- calls -------------------------------------------------------------------------------------
    def _retryable(self, exc: BaseException, is_write: bool) -> bool:
        """Explicit retry predicate: transient gateway and transport failures only."""
        if isinstance(exc, IntacctError):
            return exc.retryable
        if isinstance(exc, IntacctTransportError):
            return exc.retryable and not (is_write and exc.maybe_applied)
        return False

    def _retrying(self, *, is_write: bool) -> tenacity.Retrying:
        return retrying(self.retry_policy, lambda exc: self._retryable(exc, is_write), what="Intacct call", logger=log)

    def call(self, functions: Sequence[Function], *, transaction: bool = False, unique_id: bool = False,
             record_tags: Sequence[str] = (), raise_failures: bool = True, is_write: bool = False,
             what: str = "") -> list[Result]:
        """Send ``functions`` in one request and return their results, in order.

        With ``raise_failures`` the first failed result is raised (and retried when transient);
        without, each result carries its own status for the caller to sort out (batched writes).
        """
        def once() -> list[Result]:
            session = self._session()
            try:
                results = self._send(session, functions, transaction=transaction, unique_id=unique_id,
                                     record_tags=record_tags, what=what)
            except IntacctError as exc:
                if not exc.invalid_session:
                    raise
                log.warning("Intacct session no longer valid (%s %s); logging in again once", exc.errorno,
                            exc.description)
                session = self._session(force=True)
                results = self._send(session, functions, transaction=transaction, unique_id=unique_id,
                                     record_tags=record_tags, what=what)
            if len(results) != len(functions):
                raise IntacctProtocolError(f"Intacct answered {len(results)} results for {len(functions)} functions")
            if raise_failures:
                for result in results:
                    if not result.ok:
                        raise result.error()
            return results

        results = self._retrying(is_write=is_write)(once)
        for result in results:
            for note in result.cleaned:
                log.warning("Intacct %s %s: characters XML 1.0 forbids were removed from %s", note["object"],
                            note["key"], ", ".join(note["fields"]))
            self.cleaned.extend(result.cleaned)
        return results

    def test_connection(self) -> tuple[bool, str]:
        try:
            self._session(force=True)
        except Exception as exc:  # noqa: BLE001 - the UI shows the reason
            return False, str(exc)
        return True, "Logged in to Sage Intacct and opened an API session"
