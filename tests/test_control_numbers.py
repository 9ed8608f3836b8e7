"""Control-number stores under concurrency: every number handed out once, rising, and the same
number again for the same run key, with several threads and processes at once.

The SQL store runs on the machine's PostgreSQL (what a multi-worker deployment shares), in a
database of its own that the test creates and drops.
"""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlc.formats.control_numbers import MAX_CONTROL, FileControlNumberStore
from mlc.state.control_numbers import SqlControlNumberStore

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
KEY = "ISA|ZZ:MLCBUYER|ZZ:ACMESUPPLY"


@pytest.fixture(scope="module")
def pg_url():
    name = f"mlc_cn_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _store(where: str):
    """The file store when ``where`` is a path, else the SQL store of the state database at that URL."""
    return SqlControlNumberStore(where) if "://" in where else FileControlNumberStore(where)


def _allocate_many(where: str, prefix: str, worker: int) -> list[int]:
    """25 numbers of a sequence of its own (``prefix``), so each case starts at 1 in a shared database."""
    store = _store(where)
    return [store.allocate(f"{KEY}|{prefix}", f"run-{worker}-{i}") for i in range(25)]


def _allocate_same_run(where: str, prefix: str, _worker: int) -> int:
    return _store(where).allocate(f"{KEY}|{prefix}", "the-same-run")


def _in_processes(fn, where: str, prefix: str, workers: int) -> list:
    ctx = multiprocessing.get_context("spawn")  # no inherited connections or locks
    with ctx.Pool(workers) as pool:
        return pool.starmap(fn, [(where, prefix, w) for w in range(workers)])


def _in_threads(fn, where: str, prefix: str, workers: int) -> list:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda w: fn(where, prefix, w), range(workers)))


@pytest.fixture(params=["file", "postgresql"])
def where(request, tmp_path):
    """Where the sequences live; each case gets fresh ones, so numbers start at 1."""
    if request.param == "file":
        return str(tmp_path / "cn.json")
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("runner", [_in_threads, _in_processes], ids=["threads", "processes"])
def test_concurrent_allocations_are_unique_and_gapless(runner, where):
    prefix = f"mlc_cn_{uuid.uuid4().hex[:8]}"
    results = runner(_allocate_many, where, prefix, 4)
    assert sorted(n for chunk in results for n in chunk) == list(range(1, 101))
    for chunk in results:  # each worker saw its own numbers rising
        assert chunk == sorted(chunk)


@pytest.mark.parametrize("runner", [_in_threads, _in_processes], ids=["threads", "processes"])
def test_the_same_run_at_once_gets_one_number(runner, where):
    prefix = f"mlc_cn_{uuid.uuid4().hex[:8]}"
    assert runner(_allocate_same_run, where, prefix, 6) == [1] * 6
    assert _store(where).allocate(f"{KEY}|{prefix}", "next-run") == 2  # no number was burnt by the losers


def test_sequences_are_per_sender_receiver_pair_and_survive_a_restart(tmp_path):
    path = tmp_path / "cn.json"
    first = FileControlNumberStore(path)
    assert [first.allocate("ISA|A|B", "r1"), first.allocate("ISA|A|C", "r1"), first.allocate("ISA|A|B", "r2")] == [1, 1, 2]
    again = FileControlNumberStore(path)  # a new process, same state
    assert again.allocate("ISA|A|B", "r3") == 3
    assert again.allocate("ISA|A|B", "r1") == 1  # a replay of run r1


def test_sql_store_on_sqlite_keeps_the_same_contract(tmp_path):
    url = f"sqlite:///{tmp_path / 'cn.db'}"
    store = SqlControlNumberStore(url)
    assert [store.allocate(KEY, "a"), store.allocate(KEY, "b"), store.allocate(KEY, "a")] == [1, 2, 1]
    assert SqlControlNumberStore(url).allocate(KEY, "c") == 3


def test_numbers_wrap_after_nine_digits(tmp_path):
    path = Path(tmp_path / "cn.json")
    path.write_text('{"%s": {"last": %d, "runs": {}}}' % (KEY, MAX_CONTROL))
    assert FileControlNumberStore(path).allocate(KEY, "wrap") == 1
