"""Sterling over OAuth 2.0 client credentials, against the sandbox's token endpoint over real HTTP: one token
shared and reused, renewed before it expires, fetched again when Sterling refuses it, never logged; a wrong
client is told at once; an API user who can administer users is warned about."""

from __future__ import annotations

import logging
import time

import pytest

from mlc.hooks import sterling_oauth
from mlc.hooks.sterling import SterlingHook
from mlc.hooks.sterling_oauth import TokenError
from sandbox.sterling import TOKEN_PATH, SterlingSandbox


@pytest.fixture(autouse=True)
def fresh_tokens():
    sterling_oauth.forget_all()
    yield
    sterling_oauth.forget_all()


def bearer_calls(sterling) -> list[str]:
    return [r.headers.get("authorization", "") for r in sterling.requests if r.path != TOKEN_PATH]


def test_one_token_serves_every_hook_and_no_call_goes_with_the_password(use_connections, monkeypatch):
    masked: list[str] = []
    monkeypatch.setattr(sterling_oauth, "mask", lambda *secrets: masked.extend(secrets))
    with SterlingSandbox() as sterling:
        use_connections(sterling.connections(oauth=True))
        first, second = SterlingHook(), SterlingHook()
        assert first.get_partner("NOBODY") is None and second.list_messages("/MLC/Inbound")

    calls = bearer_calls(sterling)
    assert sterling.tokens_issued == 1 and len(calls) >= 3
    (token,) = sterling.tokens
    assert set(calls) == {f"Bearer {token}"} and masked == [token]


def test_a_token_is_renewed_before_it_expires(use_connections):
    with SterlingSandbox(token_seconds=2) as sterling:
        use_connections(sterling.connections(oauth=True))
        hook = SterlingHook()
        hook.get_partner("NOBODY")
        hook.get_partner("NOBODY")  # within the first half of its life: the same token
        issued_early = sterling.tokens_issued
        time.sleep(1.2)  # less than half of its life left: renewed before a call could meet it expired
        hook.get_partner("NOBODY")

    assert (issued_early, sterling.tokens_issued) == (1, 2)
    assert len(set(bearer_calls(sterling))) == 2


def test_a_refused_token_is_replaced_once_and_the_call_goes_through(use_connections):
    with SterlingSandbox() as sterling:
        use_connections(sterling.connections(oauth=True))
        hook = SterlingHook()
        hook.get_partner("NOBODY")
        sterling.inject("revoke_tokens", times=1)
        assert hook.get_partner("NOBODY") is None

    assert sterling.faults.fired.count("revoke_tokens") == 1 and sterling.tokens_issued == 2
    first, refused, again = bearer_calls(sterling)  # the call refused went again with the new token
    assert first == refused != again


def test_a_wrong_client_secret_is_said_at_once_without_retries(use_connections):
    with SterlingSandbox() as sterling:
        connections = sterling.connections(oauth=True)
        connections["sterling_default"]["extra"]["client_secret"] = "not-the-secret"
        use_connections(connections)
        with pytest.raises(TokenError, match=r"refused client 'mlc-airflow': HTTP 401 Client authentication failed"):
            SterlingHook().get_partner("NOBODY")

    assert [r.path for r in sterling.requests] == [TOKEN_PATH] and sterling.tokens_issued == 0


@pytest.mark.parametrize(("admin", "rights"), [(False, []), (True, ["group Admin", "permission UI Accounts"])])
def test_an_api_user_who_administers_users_is_warned_about(use_connections, caplog, monkeypatch, admin, rights):
    with SterlingSandbox(admin_user=admin) as sterling:
        use_connections(sterling.connections())
        with caplog.at_level(logging.WARNING, logger="mlc.hooks.sterling"):
            hook = SterlingHook("sterling_default")
            assert hook.admin_rights() == rights
            ok, message = hook.test_connection()
            monkeypatch.setattr("mlc.hooks.sterling._ADMIN_CHECKED", set())
            assert hook.warn_if_admin() == rights and hook.warn_if_admin() == []  # once per process

    assert ok and ("can administer users" in message) is admin
    assert ("can administer users (group Admin, permission UI Accounts)" in caplog.text) is admin
