"""Where Exact Online's rotating tokens live between tasks (reference/exact-online.md §2.5, §11.1).

Exact rotates the refresh token on every use and kills the chain when an old one is sent again, so
the pair must be kept in one writable place that every worker shares, written before it is used,
and refreshed by one process at a time:

* one row per (host, client id) in ml-connector's state database (``MLC_STATE_URL``; PostgreSQL
  in the Celery deployment), the token pair encrypted with Airflow's Fernet key (the key that
  encrypts Airflow Variables and Connections). Without a Fernet key nothing is stored: tokens are
  never kept in clear;
* a lease on the row (``lock_owner``, ``lock_until``) taken by an atomic UPDATE, so two tasks on
  two workers never refresh at once; a crashed holder's lease runs out by itself.

Airflow Connections are often read-only (secrets backends), which is why the rotated token is not
written back into the connection.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mlc.state.schema import EXACT_TOKENS as TOKENS
from mlc.state.schema import ensure_tables

log = logging.getLogger(__name__)


class TokenStoreError(RuntimeError):
    """The store cannot be used safely (no Fernet key, a record it cannot decrypt, a lock not obtained)."""


def fernet() -> MultiFernet:
    """Airflow's Fernet key(s), as Airflow uses them (comma-separated for rotation)."""
    key = os.environ.get("AIRFLOW__CORE__FERNET_KEY", "")
    if not key:
        try:
            from airflow.configuration import conf

            key = conf.get("core", "fernet_key", fallback="") or ""
        except Exception:  # noqa: BLE001 - no Airflow configuration at all
            key = ""
    keys = [k.strip() for k in key.split(",") if k.strip()]
    if not keys:
        raise TokenStoreError("Airflow has no Fernet key ([core] fernet_key / AIRFLOW__CORE__FERNET_KEY): Exact Online "
                              "tokens are never stored in clear. Set one (python -c 'from cryptography.fernet import "
                              "Fernet; print(Fernet.generate_key().decode())') and run `mlc exact-auth` again.")
    return MultiFernet([Fernet(k.encode()) for k in keys])


class TokenStore:
    """Encrypted token pairs with a lease, in the database at ``url``."""

    def __init__(self, url: str | None = None) -> None:
        self.engine = ensure_tables(url)

    def load(self, chain: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            secret = conn.execute(sa.select(TOKENS.c.secret).where(TOKENS.c.chain == chain)).scalar()
        if not secret:
            return None
        try:
            return json.loads(fernet().decrypt(secret.encode()))
        except InvalidToken:
            raise TokenStoreError(f"the stored Exact Online tokens for {chain} cannot be decrypted with this Fernet "
                                  "key (was the key changed?); run `mlc exact-auth` again") from None

    def save(self, chain: str, pair: dict[str, Any], *, owner: str) -> None:
        """Store ``pair``, if ``owner`` still holds the chain's lease (:meth:`lock`): a holder whose lease ran out
        must not overwrite the pair of the one that took over."""
        secret = fernet().encrypt(json.dumps(pair, sort_keys=True).encode()).decode()
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.engine.begin() as conn:
            saved = conn.execute(TOKENS.update().where(TOKENS.c.chain == chain, TOKENS.c.lock_owner == owner,
                                                       TOKENS.c.lock_until >= time.time())
                                 .values(secret=secret, updated=now)).rowcount
        if saved != 1:
            raise TokenStoreError(f"the Exact Online token lease for {chain} was lost before the new pair was saved; "
                                  "another task may hold the chain now. If later calls are refused, run `mlc "
                                  "exact-auth` again")

    @staticmethod
    def _ensure(conn: sa.Connection, chain: str) -> None:
        if conn.execute(sa.select(TOKENS.c.chain).where(TOKENS.c.chain == chain)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(TOKENS.insert().values(chain=chain, secret=None, lock_until=0.0,
                                                        updated=datetime.now(timezone.utc).isoformat(timespec="seconds")))
            except sa.exc.IntegrityError:
                pass  # another worker inserted it first

    @contextmanager
    def lock(self, chain: str, *, lease: float = 180.0, wait: float | None = None, poll: float = 0.2) -> Iterator[str]:
        """Hold the chain's lease for at most ``lease`` seconds; yields the holder's id (for :meth:`save`). Another
        holder makes this wait, up to ``wait`` seconds (default: the lease and half again)."""
        wait = lease * 1.5 if wait is None else wait
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        waited = False
        with self.engine.begin() as conn:
            self._ensure(conn, chain)
        while True:
            now = time.time()
            with self.engine.begin() as conn:
                taken = conn.execute(TOKENS.update().where(
                    TOKENS.c.chain == chain, sa.or_(TOKENS.c.lock_until < now, TOKENS.c.lock_owner.is_(None))
                ).values(lock_owner=owner, lock_until=now + lease)).rowcount
            if taken == 1:
                break
            if not waited:
                waited = True
                log.warning("The Exact Online token of %s is being refreshed by another task; waiting for it, then "
                            "using the pair it saves", chain)
            if time.monotonic() > deadline:
                raise TokenStoreError(f"another task has held the Exact Online token lock for {chain} for {wait:.0f}s")
            time.sleep(poll)
        try:
            yield owner
        finally:
            with self.engine.begin() as conn:
                conn.execute(TOKENS.update().where(TOKENS.c.chain == chain, TOKENS.c.lock_owner == owner)
                             .values(lock_owner=None, lock_until=0.0))
