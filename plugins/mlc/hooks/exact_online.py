"""ExactOnlineHook: OAuth 2.0 with rotating refresh tokens, the division, and a REST transport that
keeps within Exact's rate limits (reference/exact-online.md §2, §3, §7, §11).

* **Tokens**: an access token is used until it has less than ``refresh_margin`` seconds left; only
  then is it refreshed (Exact refuses a refresh less than 570 s after the previous token). The
  refresh happens under the chain's lease in :class:`mlc.state.exact_tokens.TokenStore`, re-reading the
  store first (another task may have just refreshed), and the new pair is saved *before* it is
  used. The lease outlives the token call's timeout, and only the lease's holder may save. A spent, expired or revoked refresh token raises :class:`ExactReauthRequired`, never retried:
  only a person can fix it, with ``mlc exact-auth``.
* **Division**: the connection's ``division`` extra, else ``current/Me`` once.
* **Rate limits**: the ``X-RateLimit-*`` headers of every answer are read; when the minute's budget
  is down to ``pace_reserve`` calls the hook sleeps to the window's reset instead of collecting a
  429; a 429 waits for the reset the headers give (the minute's; the day's is raised). 5xx,
  timeouts, dropped connections and HTML maintenance pages are retried under the deployment's
  :class:`~mlc.hooks.retry.RetryPolicy`; any other 4xx is raised at once (Exact blocks a key that
  repeats errors).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from airflow.sdk import BaseHook

from mlc.hooks.extras import connection_extras
from mlc.hooks.masking import mask
from mlc.hooks.retry import CUT_OFF, RetryPolicy, call_with_retries
from mlc.hooks.exact_reads import ExactReads
from mlc.state.exact_tokens import TokenStore

log = logging.getLogger(__name__)


class ExactError(Exception):
    """An answer Exact gave that is not data."""


class ExactApiError(ExactError):
    """A functional error (4xx): the request is wrong and sending it again will not help."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"Exact Online answered {status} for {url}: {message}")
        self.status, self.message = status, message


class ExactUnavailable(ExactError):
    """Exact is down, busy or in maintenance (5xx, an HTML page, a lost connection): worth retrying."""


class ExactRateLimited(ExactError):
    """A 429; ``wait`` is how long the headers say to wait (the retry policy's ``retry_after``)."""

    def __init__(self, wait: float, daily: bool) -> None:
        super().__init__(f"Exact Online rate limit reached ({'daily' if daily else 'per minute'}); reset in {wait:.0f}s")
        self.wait, self.daily = wait, daily
        self.retry_after = wait


class ExactReauthRequired(ExactError):
    """The refresh token chain is dead; a person must consent again."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Exact Online refused the refresh token ({reason}). The token chain cannot be recovered by "
                         "retrying: run `mlc exact-auth` to consent again, then clear the failed task.")


def is_retryable(exc: BaseException) -> bool:
    """Retry what time can fix (the minute's rate limit included); never a functional 4xx, the day's rate
    limit or a dead token chain."""
    if isinstance(exc, ExactRateLimited):
        return not exc.daily
    return isinstance(exc, (ExactUnavailable, requests.ConnectionError, requests.Timeout, *CUT_OFF))



_LOCAL = threading.Lock()  # one refresh at a time inside this process, before the cross-process lease


class ExactOnlineHook(ExactReads, BaseHook):
    """Read one Exact Online division.

    Connection: host = the country's base URL (``https://start.exactonline.nl``), login = client id,
    password = client secret, extra ``division`` (optional) and ``refresh_token`` (the first one,
    from ``mlc exact-auth``; rotated tokens live encrypted in ml-connector's state database).
    ``division`` (a partner profile's) reads that division instead of the connection's: one consent, the
    same token chain, several divisions.
    """

    conn_name_attr = "exact_online_conn_id"
    default_conn_name = "exact_online_default"
    conn_type = "exact_online"
    hook_name = "Exact Online"

    def __init__(self, exact_online_conn_id: str = default_conn_name, *, timeout: float = 120.0,
                 refresh_margin: float = 30.0, pace_reserve: int = 1, max_rate_wait: float = 300.0,
                 retry: RetryPolicy | None = None, token_url: str | None = None, division: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exact_online_conn_id, self._division = exact_online_conn_id, division
        self.timeout, self.refresh_margin, self.pace_reserve = timeout, refresh_margin, pace_reserve
        self.max_rate_wait, self._retry = max_rate_wait, retry
        self._token_url = token_url
        self.calls = 0  # REST calls sent (token calls not included)
        self.token_calls = 0
        self.rate_limited = 0  # 429s received
        self._minutely_remaining: int | None = None
        self._minutely_reset: float = 0.0

    # -- configuration -------------------------------------------------------------------------------
    @cached_property
    def settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.exact_online_conn_id)
        if not conn.host or not conn.login or not conn.password:
            raise ValueError(f"Connection {self.exact_online_conn_id!r} needs host (base URL), login (client id) and "
                             "password (client secret)")
        base = (conn.host if "://" in conn.host else f"https://{conn.host}").rstrip("/")
        if conn.port and f":{conn.port}" not in base:
            base = f"{base}:{conn.port}"
        extra = connection_extras(conn, self.conn_type)
        for secret in (conn.password, extra.get("refresh_token")):
            if secret:
                mask(secret)
        return {"base": base, "client_id": conn.login, "client_secret": conn.password,
                "division": self._division or extra.get("division"), "first_refresh_token": extra.get("refresh_token") or ""}

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy given to this hook, else the deployment's (read at each use)."""
        return self._retry or RetryPolicy.configured()

    @property
    def chain(self) -> str:
        return f"{self.settings['base']}#{self.settings['client_id']}"

    @cached_property
    def store(self) -> TokenStore:
        return TokenStore()

    @cached_property
    def _http(self) -> requests.Session:
        session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": "ml-connector"})
        return session

    # -- tokens --------------------------------------------------------------------------------------
    def _fresh(self, pair: Mapping[str, Any] | None) -> bool:
        return bool(pair and pair.get("access_token") and float(pair.get("expires_at", 0)) - time.time()
                    > self.refresh_margin)

    def access_token(self, *, force: bool = False) -> str:
        """A valid access token, refreshing (once, under the lease) only when it is about to run out."""
        pair = self.store.load(self.chain)
        if self._fresh(pair) and not force:
            return str(pair["access_token"])  # type: ignore[index]
        with _LOCAL, self.store.lock(self.chain, lease=self.lease_seconds) as owner:
            latest = self.store.load(self.chain)
            if self._fresh(latest) and (not force or (latest or {}).get("access_token") != (pair or {}).get(
                    "access_token")):
                return str(latest["access_token"])  # type: ignore[index]  # another task refreshed meanwhile
            refresh = (latest or {}).get("refresh_token") or self.settings["first_refresh_token"]
            if not refresh:
                raise ExactReauthRequired("no refresh token stored or in the connection")
            return self._refresh(refresh, latest, owner)

    @property
    def lease_seconds(self) -> float:
        """How long the refresh lease is held: longer than a token call may take, so that no other worker can
        take the lease and spend the same refresh token while ours is on the wire (which kills the chain)."""
        return self.timeout + 60.0

    def _refresh(self, refresh_token: str, current: Mapping[str, Any] | None, owner: str) -> str:
        answer, status = self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})
        if answer.get("refresh_token"):  # any rotated token is kept, even beside an error (picqer #559)
            pair = {"access_token": answer.get("access_token", ""), "refresh_token": answer["refresh_token"],
                    "expires_at": time.time() + float(answer.get("expires_in") or 0) if answer.get("access_token")
                    else 0.0, "issued_at": time.time()}
            self.store.save(self.chain, pair, owner=owner)
            mask(pair["access_token"])
            mask(pair["refresh_token"])
            if pair["access_token"] and status == 200:
                log.info("Exact Online access token refreshed for client %s (valid %ss)", self.settings["client_id"],
                         answer.get("expires_in"))
                return str(pair["access_token"])
        description = str(answer.get("error_description") or answer.get("error") or f"HTTP {status}")
        if "not expired" in description.lower() and current and current.get("access_token"):
            log.info("Exact Online says the stored access token is still valid; using it")
            return str(current["access_token"])
        if status in (400, 401):
            raise ExactReauthRequired(description)
        raise ExactUnavailable(f"token endpoint answered {status}: {description}")

    def _token_call(self, form: dict[str, str]) -> tuple[dict[str, Any], int]:
        """POST to the token endpoint: form-encoded, credentials in the body, no Authorization header."""
        url = self._token_url or f"{self.settings['base']}/api/oauth2/token"
        body = urlencode({**form, "client_id": self.settings["client_id"],
                          "client_secret": self.settings["client_secret"]})
        self.token_calls += 1
        try:
            response = requests.post(url, data=body, timeout=self.timeout,
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
        except (requests.ConnectionError, requests.Timeout, *CUT_OFF) as exc:
            raise ExactUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {"error_description": response.text[:200]}
        return (answer if isinstance(answer, dict) else {}), response.status_code

    def exchange_code(self, code: str, redirect_uri: str) -> dict[str, Any]:
        """The first consent: swap an authorization code for the first token pair and store it."""
        answer, status = self._token_call({"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": redirect_uri})
        if status != 200 or not answer.get("refresh_token"):
            raise ExactError(f"Exact Online refused the authorization code (HTTP {status}: "
                             f"{answer.get('error_description') or answer.get('error') or 'Bad Request'}); codes are "
                             "single-use and valid 3 minutes: run `mlc exact-auth` again")
        pair = {"access_token": answer["access_token"], "refresh_token": answer["refresh_token"],
                "expires_at": time.time() + float(answer.get("expires_in") or 0), "issued_at": time.time()}
        with self.store.lock(self.chain, lease=self.lease_seconds) as owner:
            self.store.save(self.chain, pair, owner=owner)
        return pair

    # -- division ------------------------------------------------------------------------------------
    @cached_property
    def division(self) -> int:
        if self.settings["division"]:
            return int(self.settings["division"])
        me = self.get_json(f"{self.settings['base']}/api/v1/current/Me", {"$select": "CurrentDivision"})
        rows = self.rows_of(me)
        if not rows or not rows[0].get("CurrentDivision"):
            raise ExactError("current/Me gave no CurrentDivision; set the connection's division extra")
        log.info("Exact Online division %s (from current/Me); pin it in the connection's extra", rows[0]["CurrentDivision"])
        return int(rows[0]["CurrentDivision"])

    # -- transport -----------------------------------------------------------------------------------
    def _pace(self) -> None:
        if self._minutely_remaining is not None and self._minutely_remaining <= self.pace_reserve:
            wait = self._minutely_reset - time.time() + 0.05
            if wait > 0:
                log.info("Exact Online: %s call(s) left this minute; waiting %.1fs for the window to reset",
                         self._minutely_remaining, wait)
                time.sleep(min(wait, self.max_rate_wait))
            self._minutely_remaining = None

    def _read_limits(self, headers: Mapping[str, str]) -> None:
        if headers.get("X-RateLimit-Minutely-Remaining") is not None:
            self._minutely_remaining = int(headers["X-RateLimit-Minutely-Remaining"])
            self._minutely_reset = int(headers.get("X-RateLimit-Minutely-Reset") or 0) / 1000

    def _get_once(self, url: str, params: Mapping[str, str] | None, retried_auth: list[bool]) -> Any:
        self._pace()
        token = self.access_token()
        self.calls += 1
        response = self._http.get(url, params=params, timeout=self.timeout, headers={"Authorization": f"Bearer {token}"})
        self._read_limits(response.headers)
        if response.status_code == 429:
            self.rate_limited += 1
            daily = response.headers.get("X-RateLimit-Minutely-Reset") is None
            reset = int(response.headers.get("X-RateLimit-Minutely-Reset") or response.headers.get("X-RateLimit-Reset")
                        or 0) / 1000
            raise ExactRateLimited(max(reset - time.time(), 0.0) + 0.2 if reset else 60.0, daily)
        if response.status_code == 401 and not retried_auth:
            retried_auth.append(True)  # Exact sometimes hands out a token that is already dead: refresh once
            log.warning("Exact Online answered 401 (%s); refreshing the access token once",
                        response.headers.get("WWW-Authenticate", "")[:120])
            self.access_token(force=True)
            return self._get_once(url, params, retried_auth)
        if response.status_code >= 500:
            raise ExactUnavailable(f"Exact Online answered {response.status_code} for {url}")
        if response.status_code >= 400:
            raise ExactApiError(response.status_code, _error_text(response), url)
        try:
            return response.json()
        except ValueError:
            raise ExactUnavailable(f"Exact Online answered {response.status_code} with "
                                   f"{response.headers.get('Content-Type', 'no content type')}, not JSON "
                                   "(maintenance page?)") from None

    def get_json(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        """GET one page: paced, a 429 waited out to its reset, transient failures retried, 4xx raised. The bearer
        token goes only to the connection's base URL: a URL elsewhere (a ``__next`` link) is refused."""
        base, target = urlsplit(self.settings["base"]), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise ExactError(f"refused to send the Exact Online token to {target.scheme}://{target.netloc}: only "
                             f"{base.scheme}://{base.netloc} (the connection's host) gets it")
        return call_with_retries(self._get_once, url, params, [], policy=self.retry_policy, retryable=is_retryable,
                                 what="Exact Online call", logger=log)

    @staticmethod
    def rows_of(payload: Any) -> list[dict[str, Any]]:
        """The rows of an answer, in either shape Exact uses: ``{"d": {"results": [...]}}`` or ``{"d": [...]}``."""
        data = payload.get("d") if isinstance(payload, dict) else None
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            results = data.get("results")
            return results if isinstance(results, list) else [data]
        return []

    def iter_pages(self, path: str, params: Mapping[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``/api/v1/{division}/{path}``, following ``__next`` verbatim, one after the other."""
        url: str | None = f"{self.settings['base']}/api/v1/{self.division}/{path}"
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        while url:
            payload = self.get_json(url, query)
            yield self.rows_of(payload)
            url, query = self.next_link(payload, seen), None

    @staticmethod
    def next_link(payload: Any, seen: set[str]) -> str | None:
        """The page's ``__next`` link, or ``None`` at the end; a link already followed is refused (a loop)."""
        data = payload.get("d") if isinstance(payload, dict) else None
        link = data.get("__next") if isinstance(data, dict) else None
        if not link:
            return None
        if link in seen:
            raise ExactError(f"Exact Online's __next link repeats a page already read ({link}): refused, the read "
                             "would never end")
        seen.add(link)
        return str(link)

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.access_token()
            return True, f"Exact Online division {self.division} reachable"
        except Exception as exc:  # noqa: BLE001 - the UI shows the message
            return False, str(exc)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        return str(message.get("value") if isinstance(message, dict) else message)
    return str(body)[:300]
