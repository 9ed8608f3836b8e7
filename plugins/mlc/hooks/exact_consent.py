"""The one interactive step of Exact Online's OAuth (reference/exact-online.md §2.1–2.3): a person
opens the authorize URL, consents, and the code from the redirect is exchanged for the first token
pair, which is stored encrypted for the hook. Used by ``mlc exact-auth``."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from mlc.hooks.exact_online import ExactOnlineHook


def authorize_url(hook: ExactOnlineHook, redirect_uri: str, state: str | None = None) -> tuple[str, str]:
    """(URL to open in a browser, the state value to expect back)."""
    state = state or secrets.token_urlsafe(16)
    query = urlencode({"client_id": hook.settings["client_id"], "redirect_uri": redirect_uri,
                       "response_type": "code", "force_login": "0", "state": state})
    return f"{hook.settings['base']}/api/oauth2/auth?{query}", state


def code_from(answer: str, state: str | None = None) -> str:
    """The authorization code from what the person pasted: the whole redirect URL, or the code itself.

    The code holds characters such as ``!`` and arrives URL-encoded: it is decoded here.
    """
    text = answer.strip()
    if "?" in text or text.startswith(("http://", "https://")):
        query = parse_qs(urlsplit(text).query)
        if "error" in query:
            raise ValueError(f"Exact Online refused the consent: {query['error'][0]} "
                             f"{query.get('error_description', [''])[0]}".strip())
        if state is not None and query.get("state", [None])[0] not in (None, state):
            raise ValueError("the redirect's state does not match this request: start again")
        codes = query.get("code")
        if not codes:
            raise ValueError("the pasted URL has no code= parameter")
        return codes[0]
    if not text:
        raise ValueError("no code given")
    return unquote(text)
