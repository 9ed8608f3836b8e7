"""SterlingHook: IBM Sterling B2B Integrator's REST APIs (reference/sterling.md).

* HTTP Basic over HTTPS (OAuth client credentials when the connection's extra names a
  ``token_url``: Sterling B2B Integration SaaS offers it, on-premises B2Bi documents Basic only; the token
  is cached, renewed before it expires and masked: :mod:`mlc.hooks.sterling_oauth`).
* The API user should not be an administrator: :meth:`SterlingHook.admin_rights` reads the user's own
  account and the hook warns, once, when its groups or permissions can administer users.
* JSON; lists paged with ``_range`` until a short page, filtered with ``searchFor``; the
  ``{"code", "display"}`` wrapping of GET answers unwrapped; ``{"errorCode", "errorDescription"}``
  raised as :class:`SterlingError` (:class:`SterlingNotFound` for a 404).
* 5xx, 429 (its ``Retry-After`` honoured), timeouts and dropped connections retried under the
  deployment's :class:`~mlc.hooks.retry.RetryPolicy`; other 4xx never.
* Trading partners looked up by name, created when missing, updated when they differ (a create whose
  answer was lost, sent again, meets "already exists": that is the first create having worked); a
  mailbox created before anything is delivered into it (a new partner has only ``/<partner>``);
  uploads through ``messagebatches`` (one multipart call); a message's content read through a
  configurable path template (``content_path``, default ``documents/{documentId}``: Sterling does not
  document a download API); a DELETE is never sent without an id (several B2Bi DELETE APIs delete
  every row when the id is blank).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook

from mlc.hooks.extras import connection_extras
from mlc.hooks.masking import mask
from mlc.hooks.retry import CUT_OFF, RetryPolicy, parse_retry_after, retrying
from mlc.hooks.sterling_oauth import ClientCredentials, TokenUnavailable

if TYPE_CHECKING:
    import tenacity

log = logging.getLogger(__name__)
#: group or permission names that administer users (B2Bi's Admin group, the UI's Accounts permissions)
ADMIN = re.compile(r"\badmin|^(ui )?accounts?$|user accounts?|^super ?user", re.I)
_ADMIN_CHECKED: set[str] = set()
PARTNER_FIELDS = ("code", "community", "authenticationType", "emailAddress", "phone", "givenName", "surname",
                  "username", "addressLine1", "city", "postalCode", "countryOrRegion")


class SterlingError(Exception):
    def __init__(self, status: int, code: str, description: str, url: str) -> None:
        super().__init__(f"Sterling answered {status} for {url}: {code} {description}".strip())
        self.status, self.code, self.description = status, code, description


class SterlingNotFound(SterlingError):
    """404: the partner, mailbox, community or document does not exist."""


class SterlingUnavailable(Exception):
    """5xx, 429, a timeout or a dropped connection: worth another try (after ``retry_after`` s when Sterling said)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def already_exists(exc: SterlingError) -> bool:
    """A 400 saying the object is already there (B2Bi code API000130, or its wording)."""
    return exc.status == 400 and (exc.code == "API000130" or "already exist" in exc.description.lower())


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (SterlingUnavailable, TokenUnavailable, requests.ConnectionError, requests.Timeout,
                            *CUT_OFF))


def unwrap(value: Any) -> Any:
    """``{"code": x, "display": y}`` → ``x``, everywhere in a GET answer."""
    if isinstance(value, dict):
        if set(value) == {"code", "display"}:
            return value["code"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


class SterlingHook(BaseHook):
    """Talk to one Sterling B2B Integrator (connection ``sterling_default``: host, port, schema https,
    login/password; extra ``base_path``, ``content_path``, optional ``token_url``/``client_id``/
    ``client_secret``/``scope`` for OAuth)."""

    conn_name_attr = "sterling_conn_id"
    default_conn_name = "sterling_default"
    conn_type = "sterling"
    hook_name = "IBM Sterling B2B Integrator"

    def __init__(self, sterling_conn_id: str = default_conn_name, *, timeout: float = 60.0, page_size: int = 100,
                 retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sterling_conn_id, self.timeout, self.page_size = sterling_conn_id, timeout, page_size
        self._retry = retry
        self.calls = 0

    @cached_property
    def settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.sterling_conn_id)
        if not conn.host or not conn.login:
            raise ValueError(f"Connection {self.sterling_conn_id!r} needs host and login (the API user)")
        extra = connection_extras(conn, self.conn_type)
        scheme = conn.schema or "https"
        base = f"{scheme}://{conn.host}{f':{conn.port}' if conn.port else ''}{extra.get('base_path') or '/B2BAPIs/svc'}"
        mask(conn.password, extra.get("client_secret"))
        return {"base": base.rstrip("/"), "login": conn.login, "password": conn.password or "",
                "content_path": extra.get("content_path") or "documents/{documentId}", "oauth": {
                    k: extra[k] for k in ("token_url", "client_id", "client_secret", "scope") if extra.get(k)}}

    @cached_property
    def _http(self) -> requests.Session:
        session = requests.Session()
        session.headers.update({"Accept": "application/json"})
        if self._oauth is None:
            session.auth = (self.settings["login"], self.settings["password"])
        return session

    @cached_property
    def _oauth(self) -> ClientCredentials | None:
        oauth = self.settings["oauth"]
        if not oauth.get("token_url"):
            return None
        return ClientCredentials(oauth["token_url"], oauth.get("client_id") or self.settings["login"],
                                 oauth.get("client_secret") or self.settings["password"], oauth.get("scope", ""),
                                 self.timeout)

    # -- transport -----------------------------------------------------------------------------------
    def _once(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> requests.Response:
        url = f"{self.settings['base']}/{path}"
        self.calls += 1
        try:
            response = self._send(method, url, **kwargs)
            if response.status_code == 401 and self._oauth is not None:  # revoked or expired early: a new one, once
                self._oauth.forget(response.request.headers.get("Authorization", "")[len("Bearer "):])
                response = self._send(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout, *CUT_OFF) as exc:
            raise SterlingUnavailable(f"{method} {url}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise SterlingUnavailable(f"{method} {url}: HTTP {response.status_code}",
                                      parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            code = str(body.get("errorCode", "")) if isinstance(body, dict) else ""
            text = str(body.get("errorDescription", "")) if isinstance(body, dict) else ""
            error = SterlingNotFound if response.status_code == 404 else SterlingError
            raise error(response.status_code, code, text or response.reason, f"{method} {path}")
        if expect_json and "html" in response.headers.get("Content-Type", "").lower():
            raise SterlingUnavailable(f"{method} {url}: HTTP {response.status_code} with an HTML page instead of the "
                                      "API's answer (a proxy or maintenance page)")
        return response

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self._oauth is not None:
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._oauth.token(self._http)}"}
            kwargs["headers"] = headers
        return self._http.request(method, url, timeout=self.timeout, **kwargs)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy given to this hook, else the deployment's (read at each use)."""
        return self._retry or RetryPolicy.configured()

    def _retrying(self) -> tenacity.Retrying:
        return retrying(self.retry_policy, is_retryable, what="Sterling call", logger=log)

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> requests.Response:
        """One call, retried with backoff when Sterling is down or slow; never on a 4xx. ``expect_json``: an HTML
        page is then a proxy's or maintenance page, retried like a 5xx. Not for creates whose answer may be lost
        after they were carried out: see :meth:`upload`."""
        return self._retrying()(self._once, method, path, expect_json=expect_json, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        return unwrap(self.request("GET", path, params=params or None).json())

    def iter_list(self, resource: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every row of a list, ``page_size`` at a time (``_range``), until a short page."""
        start = 0
        while True:
            page = self.get(f"{resource}/", **params, _range=f"{start}-{start + self.page_size - 1}")
            rows = page if isinstance(page, list) else []
            yield from rows
            if len(rows) < self.page_size:
                return
            start += self.page_size

    @staticmethod
    def location_id(response: requests.Response) -> str:
        """The new object's id: the last segment of the ``Location`` a create answers with."""
        location = (response.json() or {}).get("Location") or response.headers.get("Location") or ""
        return location.rstrip("/").rsplit("/", 1)[-1]

    def delete(self, resource: str, ident: str) -> int:
        """Delete one object; an empty id is refused here, because Sterling would delete them all."""
        if not str(ident or "").strip():
            raise ValueError(f"refusing DELETE {resource}/ without an id: Sterling deletes every row for a blank id")
        return int(self.request("DELETE", f"{resource}/{quote(str(ident), safe='')}").json().get("rowsAffected", 0))

    # -- trading partners ----------------------------------------------------------------------------
    def get_partner(self, name: str) -> dict[str, Any] | None:
        try:
            return self.get(f"tradingpartners/{quote(name, safe='')}")
        except SterlingNotFound:
            return None

    def upsert_partner(self, partner: Mapping[str, Any], new_password: str | None = None) -> tuple[str, str]:
        """(status, partner id): ``created``, ``updated`` (a field differed) or ``unchanged``.

        ``new_password`` is sent only when the partner is created (Local users need one); it is masked.
        """
        name = str(partner["partnerName"])
        current = self.get_partner(name)
        if current is None:
            body = dict(partner)
            if new_password:
                mask(new_password)
                body["password"] = new_password
            try:
                response = self.request("POST", "tradingpartners/", json=body)
                return "created", self.location_id(response) or name
            except SterlingError as exc:
                if not already_exists(exc):
                    raise
                # A retried create whose first answer was lost (or a twin run) made it: look at what is there.
                log.warning("Sterling: trading partner %s already exists after our create; taking it as created", name)
                current = self.get_partner(name)
                if current is None:
                    raise
                self._update_if_changed(name, partner, current)
                return "created", str(current.get("_id") or name)
        return self._update_if_changed(name, partner, current) or "unchanged", str(current.get("_id") or name)

    def _update_if_changed(self, name: str, partner: Mapping[str, Any], current: Mapping[str, Any]) -> str:
        """PUT the fields that differ; ``"updated"``, or ``""`` when nothing did."""
        changed = {k: v for k, v in partner.items() if k in PARTNER_FIELDS and current.get(k) != v}
        if not changed:
            return ""
        self.request("PUT", f"tradingpartners/{quote(name, safe='')}",
                     json={k: v for k, v in partner.items() if k != "password"})
        return "updated"

    # -- mailboxes -----------------------------------------------------------------------------------
    def mailbox_id(self, path: str) -> int:
        for box in self.iter_list("mailboxes", searchFor=path):
            if box.get("path") == path:
                return int(box.get("mailboxId") or box.get("id"))
        raise SterlingNotFound(404, "", f"mailbox {path} not found", "mailboxes")

    def ensure_mailbox(self, path: str) -> bool:
        """Create mailbox ``path`` (and its parents) unless it exists; whether it was created.

        B2Bi gives a new trading partner only the mailbox ``/<partner>``; a document for ``/<partner>/Inbox``
        would otherwise fail with "mailbox not found".
        """
        try:
            self.mailbox_id(path)
            return False
        except SterlingNotFound:
            pass
        try:
            self.request("POST", "mailboxes/", json={"path": path, "description": f"{path} (created by ml-connector)",
                                                     "mailboxType": "R", "createParentMailbox": True})
        except SterlingError as exc:
            if not already_exists(exc):
                raise
            return False  # a lost answer, or another run, created it first
        log.info("Sterling: created mailbox %s", path)
        return True

    def list_messages(self, path: str) -> list[dict[str, Any]]:
        """The messages (not sub-mailboxes) in a mailbox, oldest first."""
        parent = self.mailbox_id(path)
        items = [i for i in self.iter_list("mailboxcontents", parentMailboxId=parent) if i.get("type") == "message"]
        return sorted(items, key=lambda i: (str(i.get("creationDate")), int(i.get("id") or 0)))

    def upload(self, path: str, name: str, data: bytes) -> str:
        """Put ``data`` into mailbox ``path`` as message ``name`` (one multipart call); the message id.

        An upload whose answer was lost (a timeout, a dropped connection, a 5xx from a proxy) may have
        been carried out: before it is sent again, the mailbox is listed, and a message of that name is
        taken as this upload. The names carry the document's content hash, so that is safe.
        """
        for attempt in self._retrying():
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    there = [m for m in self.list_messages(path) if m.get("name") == name]
                    if there:
                        log.warning("Sterling: %s is already in %s (message %s): the earlier attempt went through",
                                    name, path, there[-1].get("id"))
                        return str(there[-1].get("id") or "")
                response = self._once("POST", "messagebatches/",
                                      files=[("upstream", (name, data, "application/octet-stream"))],
                                      data={"mailboxName": path})
                return self.location_id(response)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def message_content(self, message: Mapping[str, Any]) -> bytes:
        """A message's bytes through the ``content_path`` template (JSON ``payload`` base64, or raw bytes)."""
        path = self.settings["content_path"].format(**{k: quote(str(v), safe="") for k, v in message.items()})
        response = self.request("GET", path, expect_json=False)
        if "json" in response.headers.get("Content-Type", ""):
            payload = response.json().get("payload")
            if payload is None:
                raise SterlingError(response.status_code, "", f"no payload in the answer of {path}; set the "
                                    "connection's content_path to this instance's download API", path)
            return base64.b64decode(payload)
        return response.content

    def admin_rights(self) -> list[str]:
        """The groups and permissions of the API user's own account that let it administer users (empty when
        none, or when the API does not show the account: a least-privilege user often may not read it)."""
        try:
            account = unwrap(self.get(f"useraccounts/{quote(self.settings['login'], safe='')}"))
        except (SterlingError, SterlingUnavailable, ValueError):
            return []
        if not isinstance(account, dict):
            return []
        found = []
        for key in ("groups", "permissions"):
            values = account.get(key) or []
            names = values.split(",") if isinstance(values, str) else values
            for name in names:
                text = str(name.get("name") if isinstance(name, dict) else unwrap(name) or "").strip()
                if ADMIN.search(text):
                    found.append(f"{key[:-1]} {text}")
        return found

    def warn_if_admin(self) -> list[str]:
        """Log a warning, once per process and connection, when the API user can administer users."""
        if self.sterling_conn_id in _ADMIN_CHECKED:
            return []
        _ADMIN_CHECKED.add(self.sterling_conn_id)
        rights = self.admin_rights()
        if rights:
            log.warning("The Sterling API user %s of connection %s can administer users (%s): give ml-connector a "
                        "user with the API User permission and rights on its mailboxes and trading partners only "
                        "(README, Sterling).", self.settings["login"], self.sterling_conn_id, ", ".join(rights))
        return rights

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.request("GET", "doc", expect_json=False)  # the API's documentation page
            next(self.iter_list("communities"), None)
            rights = self.admin_rights()
            if rights:
                return True, ("Sterling B2B REST APIs reachable, but the API user can administer users ("
                              + ", ".join(rights) + "): use a user with the API User permission only")
            return True, "Sterling B2B REST APIs reachable"
        except Exception as exc:  # noqa: BLE001 - the UI shows the message
            return False, str(exc)
