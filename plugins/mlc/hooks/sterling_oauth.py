"""OAuth 2.0 client credentials (RFC 6749 §4.4) for Sterling B2B Integration SaaS, which offers it beside
HTTP Basic; on-premises B2Bi documents Basic only (reference/sterling.md §2), so this is used only when the
connection names a ``token_url``.

One token per token URL, client and scope, shared by every hook of the process: fetched when there is none,
fetched again shortly before it expires (a long upload never presents a token about to lapse), and dropped
when Sterling answers 401 so that the next call gets a fresh one. Each token is registered with Airflow's
secrets masker as soon as it arrives, so no log line shows it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests

from mlc.hooks.masking import mask

#: a token is renewed when less than this part of its life is left (and at least a minute before it ends)
RENEW_FRACTION = 0.1
DEFAULT_LIFETIME = 3600.0  # seconds, when the token endpoint does not say (expires_in is only RECOMMENDED)

_TOKENS: dict[tuple[str, str, str], tuple[str, float, float]] = {}  # key -> (token, expires_at, lifetime)
_LOCK = threading.Lock()


class TokenError(Exception):
    """The token endpoint refused the client (wrong id or secret, scope not allowed): a person must act."""


class TokenUnavailable(Exception):
    """The token endpoint could not be reached or answered 5xx / 429: worth retrying."""


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    scope: str = ""
    timeout: float = 30.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.token_url, self.client_id, self.scope)

    def token(self, session: requests.Session) -> str:
        """A token valid for a while yet: the cached one, or a new one from the token endpoint."""
        with _LOCK:
            cached = _TOKENS.get(self.key)
            if cached is not None:
                token, expires_at, lifetime = cached
                if expires_at - time.time() > max(60.0, RENEW_FRACTION * lifetime) or (
                        lifetime <= 120 and expires_at - time.time() > lifetime / 2):
                    return token
            token, lifetime = self._fetch(session)
            _TOKENS[self.key] = (token, time.time() + lifetime, lifetime)
            return token

    def forget(self, token: str) -> None:
        """Drop ``token`` (Sterling refused it): the next call fetches another."""
        with _LOCK:
            if _TOKENS.get(self.key, ("",))[0] == token:
                del _TOKENS[self.key]

    def _fetch(self, session: requests.Session) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        if self.scope:
            form["scope"] = self.scope
        try:
            answer = session.post(self.token_url, data=form, timeout=self.timeout,
                                  headers={"Accept": "application/json"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TokenUnavailable(f"token endpoint {self.token_url}: {type(exc).__name__}") from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TokenUnavailable(f"token endpoint {self.token_url}: HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code >= 400 or not isinstance(body, dict) or not body.get("access_token"):
            reason = (body.get("error_description") or body.get("error")) if isinstance(body, dict) else None
            raise TokenError(f"token endpoint {self.token_url} refused client {self.client_id!r}: HTTP "
                             f"{answer.status_code} {reason or 'without an access_token'}; check the connection's "
                             "client_id, client_secret and scope")
        token = str(body["access_token"])
        mask(token)
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        return token, max(lifetime, 1.0)


def forget_all() -> None:
    """Drop every cached token (tests; a rotated client secret)."""
    with _LOCK:
        _TOKENS.clear()
