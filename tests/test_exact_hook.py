"""ExactOnlineHook against the Exact Online sandbox over real HTTP: tokens, division, paging, limits."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from datetime import datetime, timedelta, timezone

import pytest

from mlc.hooks.exact_online import ExactApiError, ExactError, ExactOnlineHook, ExactReauthRequired
from mlc.hooks.exact_reads import exact_literal, parse_exact_date
from mlc.state.exact_tokens import TokenStore, TokenStoreError
from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed

WINDOW = {"since": datetime(2026, 10, 1, tzinfo=timezone.utc), "until": datetime(2026, 11, 20, tzinfo=timezone.utc)}


@pytest.fixture
def exact(tmp_path, monkeypatch, use_connections):
    monkeypatch.setenv("MLC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    with ExactSandbox(seed=ExactSeed(invoices=150), window_seconds=1.0) as server:
        use_connections(server.connections())
        yield server


def hook(**kwargs) -> ExactOnlineHook:
    return ExactOnlineHook(**kwargs)


def test_purchase_entries_come_with_their_lines_a_page_of_60_per_call(exact):
    h = hook()
    entries = list(h.iter_purchase_entries(**WINDOW))
    assert len(entries) == 150 == len({e["EntryID"] for e in entries})
    assert h.calls == 3 and h.token_calls == 1  # 60 + 60 + 30 entries, lines expanded inline
    lines = {e["EntryID"]: [(ln["LineNumber"], ln["GLAccountCode"], ln["AmountFC"]) for ln in e["PurchaseEntryLines"]]
             for e in entries}
    expected = {}
    for line in exact.division.tables["lines"]:
        expected.setdefault(line["EntryID"], []).append((line["LineNumber"], line["GLAccountCode"], line["AmountFC"]))
    assert lines == {k: sorted(v) for k, v in expected.items()}
    first = entries[0]
    assert len(first["EntryDate"]) == 10 and first["Modified"].endswith("Z")


def test_a_window_reads_only_what_changed_in_it_with_the_overlap(exact):
    h = hook()
    since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 8, tzinfo=timezone.utc)
    got = {e["EntryID"] for e in h.iter_purchase_entries(since=since, until=until, overlap=timedelta(0))}
    ams = [e for e in exact.division.tables["entries"]
           if exact_literal(since)[9:-1] <= e["Modified"].isoformat() < exact_literal(until)[9:-1]]
    assert got == {e["EntryID"] for e in ams} and got


def test_exact_dates_are_amsterdam_wall_clock():
    assert parse_exact_date("/Date(1793145600000)/", "EntryDate") == "2026-10-28"
    assert parse_exact_date("/Date(1793188800000)/", "Modified") == "2026-10-28T11:00:00Z"  # 12:00 CET
    assert parse_exact_date("/Date(1783339200000)/", "Modified") == "2026-07-06T10:00:00Z"  # 12:00 CEST
    assert exact_literal(datetime(2026, 11, 1, tzinfo=timezone.utc)) == "datetime'2026-11-01T01:00:00'"


def test_objects_from_bulk_endpoints_and_sync_cursors(exact):
    h = hook()
    suppliers = list(h.iter_object("suppliers", **WINDOW))
    assert suppliers and all(s["IsSupplier"] for s in suppliers) and all(not s["Code"].startswith(" ") for s in suppliers)
    assert len(list(h.iter_object("gl_account_mappings"))) == 7
    # A whole read of GL accounts (a reference list) passes Exact's mandatory filtering: it asks from the beginning.
    assert len(list(h.iter_object("gl_accounts"))) == len(exact.division.tables["glaccounts"]) > 0
    synced = list(h.iter_sync("suppliers", ["ID", "Name"]))
    assert len(synced) == len(exact.division.tables["accounts"])
    cursor = max(r["Timestamp"] for r in synced)
    exact.division.touch("accounts", synced[0]["ID"], datetime(2026, 11, 20, 9), Name="Renamed B.V.")
    assert [r["Name"] for r in h.iter_sync("suppliers", ["ID", "Name"], after=cursor)] == ["Renamed B.V."]


def test_a_refused_filter_is_not_retried(exact):
    h = hook()
    with pytest.raises(ExactApiError, match="mandatory filtering applied") as info:
        list(h.iter_rows("crm/Accounts", ["ID", "Name"]))
    assert info.value.status == 400 and h.calls == 1


def test_division_comes_from_current_me_when_the_connection_has_none(exact, use_connections):
    conn = exact.connections()["exact_online_default"]
    conn["extra"].pop("division")
    use_connections({"exact_online_default": conn})
    h = hook()
    assert h.division == exact.division.number
    assert [r.path for r in exact.requests][-1] == "/api/v1/current/Me"


def test_the_pace_keeps_a_normal_run_clear_of_429s_and_a_burst_is_waited_out(exact):
    exact.minutely_limit = 2  # two calls a (one-second) window
    h = hook()
    assert len(list(h.iter_purchase_entries(**WINDOW))) == 150
    assert h.rate_limited == 0
    exact.inject("rate_limit", times=3)
    assert len(list(h.iter_object("payments", **WINDOW))) == 50
    assert h.rate_limited == 3


def test_5xx_and_maintenance_pages_are_retried(exact):
    exact.inject("http_5xx", times=2, status=503)
    exact.inject("maintenance", times=1)
    h = hook()
    assert len(list(h.iter_object("cost_centres"))) == 3


def test_tokens_are_refreshed_only_when_about_to_expire_and_kept_encrypted(exact, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    h = hook()
    list(h.iter_object("cost_units"))
    assert exact.token_calls == 1
    list(hook().iter_object("cost_units"))  # another task: the stored token is still good
    assert exact.token_calls == 1
    store = TokenStore(f"sqlite:///{tmp_path / 'state.db'}")
    raw = store.engine.connect().execute(store_select(store)).scalar()
    pair = store.load(h.chain)
    assert pair["refresh_token"] == exact.refresh_token and pair["refresh_token"] not in raw  # encrypted at rest
    age(store, h.chain, exact, 590)  # 10 s left: refresh
    list(hook().iter_object("cost_units"))
    assert exact.token_calls == 2
    text = caplog.text
    assert pair["access_token"] not in text and pair["refresh_token"] not in text and "exact-sandbox-client" not in text


def age(store: TokenStore, chain: str, exact: ExactSandbox, seconds: float) -> None:
    """Let ``seconds`` pass for the stored token and for the sandbox's clock."""
    pair = store.load(chain)
    pair["expires_at"] -= seconds
    with store.lock(chain) as owner:
        store.save(chain, pair, owner=owner)
    exact.advance(seconds)


def store_select(store):
    from mlc.state.exact_tokens import TOKENS

    return TOKENS.select().with_only_columns(TOKENS.c.secret)


def _refresh_in_child(conn: str, state_url: str, out) -> None:
    import os

    os.environ["AIRFLOW_CONN_EXACT_ONLINE_DEFAULT"] = conn
    os.environ["MLC_STATE_URL"] = state_url
    out.put(ExactOnlineHook().access_token())


def test_two_tasks_refreshing_at_once_make_one_refresh(exact, tmp_path):
    h = hook()
    list(h.iter_object("cost_units"))
    age(TokenStore(f"sqlite:///{tmp_path / 'state.db'}"), h.chain, exact, 600)  # the token ran out for both
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    conn = json.dumps(exact.connections()["exact_online_default"])
    workers = [ctx.Process(target=_refresh_in_child, args=(conn, f"sqlite:///{tmp_path / 'state.db'}", out))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    tokens = {out.get(timeout=5), out.get(timeout=5)}
    assert exact.token_calls == 2 and len(tokens) == 1  # the first consent's refresh, then exactly one


def test_a_restart_after_the_save_reuses_the_saved_token(exact):
    h = hook()
    token = h.access_token()
    del h  # the worker dies here: the pair was saved before it was used
    assert hook().access_token() == token and exact.token_calls == 1


def test_an_answer_lost_after_rotation_or_a_revoked_chain_asks_for_a_new_consent(exact):
    exact.inject("token_lost")  # Exact rotated the token; the answer never arrived
    with pytest.raises(Exception):
        hook().access_token()
    with pytest.raises(ExactReauthRequired, match="Old refresh token used.*mlc exact-auth"):
        hook().access_token()
    calls = exact.token_calls
    with pytest.raises(ExactReauthRequired):
        list(hook().iter_object("cost_units"))
    assert exact.token_calls == calls + 1  # one try, never a retry loop


def test_an_early_refresh_is_refused_and_the_stored_token_used(exact):
    h = hook()
    token = h.access_token()
    assert h.access_token(force=True) == token  # Exact: "access_token not expired"
    assert exact.token_calls == 2


def test_both_page_shapes_are_read(exact):
    h = hook()
    (page,) = list(h.iter_pages("hrm/Costcenters", {"$select": "ID,Code", "$top": "2"}))  # {"d": [...]}
    assert len(page) == 2 and {"ID", "Code"} <= set(page[0])
    assert len(list(h.iter_rows("hrm/Costcenters", ["ID", "Code"]))) == 3  # {"d": {"results": [...]}}


def test_the_refresh_lease_outlives_the_token_call_and_only_its_holder_saves(exact, tmp_path):
    """A token call may take the hook's whole timeout; a lease shorter than that would let a second worker spend
    the same refresh token meanwhile, which kills the chain on Exact."""
    assert hook(timeout=120).lease_seconds > 120 and hook(timeout=5).lease_seconds > 5
    store = TokenStore(f"sqlite:///{tmp_path / 'state.db'}")
    with store.lock("chain-x", lease=0.2) as late:
        time.sleep(0.3)  # the lease ran out while the token call was on the wire
        with store.lock("chain-x", lease=30) as other:
            store.save("chain-x", {"refresh_token": "theirs"}, owner=other)
        with pytest.raises(TokenStoreError, match="lease .* was lost"):
            store.save("chain-x", {"refresh_token": "ours"}, owner=late)
    assert store.load("chain-x") == {"refresh_token": "theirs"}


def test_a_next_link_to_another_host_or_back_to_a_page_already_read_is_refused(exact):
    exact.inject("next_elsewhere", times=1)
    with pytest.raises(ExactError, match="refused to send the Exact Online token to http://exact-online.example.net"):
        list(hook().iter_purchase_entries())
    assert exact.faults.fired == ["next_elsewhere"]
    assert not [r for r in exact.requests if "example.net" in r.path]

    exact.inject("next_loop", times=None)
    with pytest.raises(ExactError, match="repeats a page already read"):
        list(hook().iter_purchase_entries())
    assert exact.faults.fired.count("next_loop") >= 2


def test_changes_to_suppliers_and_gl_lines_come_through_the_sync_api_from_the_windows_synctimestamp(exact):
    h = hook()
    low, high = datetime(2026, 11, 1, 1), datetime(2026, 11, 9, 1)  # the UTC window in Amsterdam wall-clock time
    window = {"since": datetime(2026, 11, 1, tzinfo=timezone.utc), "until": datetime(2026, 11, 9, tzinfo=timezone.utc)}
    suppliers = list(h.iter_synced("suppliers", **window))
    lines = list(h.iter_synced("gl_transactions", **window))

    expected = sorted(r["ID"] for r in exact.division.tables["accounts"] if r["IsSupplier"]
                      and low - timedelta(hours=2) <= r["Modified"] < high)
    assert expected and sorted(s["ID"] for s in suppliers) == expected
    assert sorted(t["ID"] for t in lines) == sorted(r["ID"] for r in exact.division.tables["transactions"]
                                                   if low - timedelta(hours=2) <= r["Modified"] < high)
    assert {"read/sync/sync/synctimestamp", "sync/crm/accounts", "sync/financial/transactionlines"} <= set(exact.calls)
    assert "bulk/crm/accounts" not in exact.calls and "bulk/financial/transactionlines" not in exact.calls
    # Nothing modified since: SyncTimestamp answers no record, and no sync page is read at all.
    calls = exact.calls["sync/crm/accounts"]
    assert list(h.iter_synced("suppliers", since=datetime(2027, 1, 1, tzinfo=timezone.utc), until=None)) == []
    assert exact.calls["sync/crm/accounts"] == calls
