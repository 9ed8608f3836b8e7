"""The database ml-connector keeps its own state in (control numbers, ledgers, Exact Online tokens).

``MLC_STATE_URL`` is any SQLAlchemy URL; the Celery deployment points it at its PostgreSQL. The
default, a SQLite file beside ``AIRFLOW_HOME``, suits one machine (``airflow standalone``, the demo,
the tests). Tasks never touch Airflow's metadata database for this: Airflow 3 keeps tasks out of it.
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa


def state_url() -> str:
    url = os.environ.get("MLC_STATE_URL")
    if url:
        return url
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"sqlite:///{os.path.abspath(home)}/mlc-state.db"


@lru_cache(maxsize=8)
def engine(url: str) -> sa.Engine:
    return sa.create_engine(url, future=True, pool_pre_ping=True)
