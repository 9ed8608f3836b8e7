"""``mlc exact-auth``: the one interactive consent, against the Exact Online sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from mlc.hooks.exact_consent import code_from
from mlc.hooks.exact_online import ExactOnlineHook
from sandbox.exact import ExactSandbox

REPO = Path(__file__).resolve().parent.parent
REDIRECT = "http://localhost:8765/exact/callback"


def mlc(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "bin" / "mlc"), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def test_consent_stores_the_first_pair_and_the_hook_uses_it(tmp_path, monkeypatch):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    with ExactSandbox() as exact:
        conn = exact.connections()["exact_online_default"]
        conn["extra"].pop("refresh_token")  # a new connection: no token yet
        env = {**os.environ, "AIRFLOW_CONN_EXACT_ONLINE_DEFAULT": json.dumps(conn), "MLC_STATE_URL": state_url}
        first = subprocess.Popen([sys.executable, str(REPO / "bin" / "mlc"), "exact-auth", "--redirect-uri", REDIRECT],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        url = ""
        while "api/oauth2/auth" not in url:
            url = first.stdout.readline().strip()  # type: ignore[union-attr]
        consent = requests.get(url, allow_redirects=False, timeout=10)  # the person clicks "Allow"
        assert consent.status_code == 302 and consent.headers["Location"].startswith(REDIRECT)
        out, err = first.communicate(consent.headers["Location"] + "\n", timeout=60)
        assert first.returncode == 0, err
        assert "Stored the Exact Online tokens" in out and exact.refresh_token not in out + err

        monkeypatch.setenv("AIRFLOW_CONN_EXACT_ONLINE_DEFAULT", json.dumps(conn))
        monkeypatch.setenv("MLC_STATE_URL", state_url)
        hook = ExactOnlineHook()
        assert hook.store.load(hook.chain)["refresh_token"] == exact.refresh_token
        assert len(list(hook.iter_object("cost_units"))) == 0 and exact.token_calls == 1  # no refresh needed

        reused = mlc(["exact-auth", "--redirect-uri", REDIRECT, "--code", consent.headers["Location"]], env)
        assert reused.returncode == 1 and "single-use and valid 3 minutes" in reused.stderr


def test_the_code_is_taken_from_the_redirect_and_decoded():
    assert code_from("http://localhost/cb?code=ab%21cd&state=s1", "s1") == "ab!cd"
    assert code_from("ab%21cd") == "ab!cd"
    try:
        code_from("http://localhost/cb?code=x&state=other", "s1")
    except ValueError as exc:
        assert "state does not match" in str(exc)
    else:
        raise AssertionError("a foreign state was accepted")
