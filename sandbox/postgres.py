"""The machine's PostgreSQL for sandbox deployments: a database of their own, made and dropped by name.

``MLC_CLUSTER_PG`` points elsewhere (default: the local server, user postgres, trust authentication).
"""

from __future__ import annotations

import os

PG = os.environ.get("MLC_CLUSTER_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")


def _admin():
    import sqlalchemy as sa

    return sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")


def create_database(name: str, *, keep: bool = False) -> str:
    """The database ``name``, made afresh (an older one of that name dropped), or with ``keep`` the one already
    there, kept across restarts; its URL."""
    import sqlalchemy as sa

    engine = _admin()
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
        if exists and not keep:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or not keep:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    import sqlalchemy as sa

    engine = _admin()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def reachable() -> str | None:
    """None when PostgreSQL answers at ``PG``; else why not, in one line."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG}/postgres", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: use SQLite instead
        return str(exc).splitlines()[0][:200]
    finally:
        engine.dispose()
