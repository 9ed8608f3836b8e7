"""Where ml-connector's state lives, and every table of it.

``MLC_STATE_URL`` is any SQLAlchemy URL; the Celery deployment points it at its PostgreSQL. The
default, a SQLite file beside ``AIRFLOW_HOME``, suits one machine (``airflow standalone``, the demo,
the tests). The tables are created on first use by :func:`ensure_tables`, once per process and
database; two workers creating them at the same moment is expected, and the loser looks again. A column added
to a table since a database was made (always nullable) is added to it the same way (:func:`add_new_columns`).
"""

from __future__ import annotations

import os
from functools import lru_cache

import sqlalchemy as sa

METADATA = sa.MetaData()

#: Which file (by sha256, or ``content:`` + the records' key) reached which destination, and when.
DELIVERIES = sa.Table(
    "mlc_delivery", METADATA,
    sa.Column("destination", sa.String(500), primary_key=True),
    sa.Column("sha256", sa.String(80), primary_key=True),
    sa.Column("remote_path", sa.String(1000), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.String(40), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
    sa.Column("control", sa.Text, nullable=True),
)

#: What the partner answered for each delivered file (997 / TA1 / CONTRL), and whether an overdue alert went out.
DELIVERY_ACKS = sa.Table(
    "mlc_delivery_ack", METADATA,
    sa.Column("destination", sa.String(500), primary_key=True),
    sa.Column("sha256", sa.String(80), primary_key=True),  # the delivery's
    # accepted | accepted with errors | rejected | invalid; None: none yet
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("ack_file", sa.String(1000), nullable=True),
    sa.Column("updated", sa.String(40), nullable=False),
    sa.Column("overdue_alerted", sa.String(40), nullable=True),
    sa.Column("codes", sa.Text, nullable=True),  # the partner's error codes, per set / message ("set 0001: 5, ...")
)

#: Which inbound file (by sha256) from which feed was processed, and how it ended.
INBOUND = sa.Table(
    "mlc_inbound_file", METADATA,
    sa.Column("source", sa.String(500), primary_key=True),  # sftp://<conn>/<feed>
    sa.Column("sha256", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(1000), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # processing | done | rejected
    sa.Column("rows", sa.Integer, nullable=True),
    sa.Column("posted", sa.Integer, nullable=True),
    sa.Column("rejected", sa.Integer, nullable=True),
    sa.Column("skipped", sa.Integer, nullable=True),
    sa.Column("first_seen", sa.String(40), nullable=False),
    sa.Column("updated", sa.String(40), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
    sa.Column("report", sa.String(1000), nullable=True),  # the error report (or the refusal's note) on its server
)

#: The last control number of each sequence (``ISA|ZZ:SENDER|ZZ:RECEIVER``) ...
CONTROL_SEQUENCES = sa.Table(
    "mlc_control_sequence", METADATA,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("last", sa.BigInteger, nullable=False),
)

#: ... and the number each run key (dag, run, task, file) was given, so a replay renders the same bytes.
CONTROL_RUNS = sa.Table(
    "mlc_control_run", METADATA,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("run_key", sa.String(500), primary_key=True),
    sa.Column("number", sa.BigInteger, nullable=False),
)

#: How far each source has been delivered: a scope (DAG, export, connection) and the moment up to which every
#: record it changed has reached its destination. Moves forward only, after the delivery or load succeeded.
WATERMARKS = sa.Table(
    "mlc_watermark", METADATA,
    sa.Column("scope", sa.String(500), primary_key=True),
    sa.Column("mark", sa.String(40), nullable=False),  # ISO UTC
    sa.Column("updated", sa.String(40), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
)

#: Which version (digest of what the partner sees) of which record (its key) reached which destination.
RECORDS_SENT = sa.Table(
    "mlc_record_sent", METADATA,
    sa.Column("destination", sa.String(500), primary_key=True),
    sa.Column("record_key", sa.String(300), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("file", sa.String(1000), nullable=False),
    sa.Column("run", sa.String(500), nullable=False),
    sa.Column("sent_at", sa.String(40), nullable=False),
)

#: Exact Online's token pair per (host, client id), Fernet-encrypted, with a refresh lease.
EXACT_TOKENS = sa.Table(
    "mlc_exact_token", METADATA,
    sa.Column("chain", sa.String(300), primary_key=True),  # base URL + client id
    sa.Column("secret", sa.Text, nullable=True),  # Fernet token of the JSON pair
    sa.Column("updated", sa.String(40), nullable=False),
    sa.Column("lock_owner", sa.String(64), nullable=True),
    sa.Column("lock_until", sa.Float, nullable=False, default=0.0),
)

def state_url() -> str:
    """``MLC_STATE_URL``, or a SQLite file beside ``AIRFLOW_HOME``."""
    url = os.environ.get("MLC_STATE_URL")
    if url:
        return url
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"sqlite:///{os.path.abspath(home)}/mlc-state.db"


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, future=True, pool_pre_ping=True)


def ensure_tables(url: str | None = None) -> sa.Engine:
    """The engine of the state database at ``url`` (default :func:`state_url`), its tables created.

    Missing tables are created (``CREATE`` only what is not there, so this is cheap to call per use).
    When another worker creates a table at the same moment, PostgreSQL lets one of them win (a unique
    violation on its catalogue for the other): the loser looks again and finds the table there.
    """
    engine = _engine(url or state_url())
    for attempt in range(3):
        try:
            METADATA.create_all(engine)
            add_new_columns(engine)
            return engine
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


_COMPLETE: set[str] = set()  # databases whose tables have every column, in this process


def add_new_columns(engine: sa.Engine) -> None:
    """Add to each table the columns a database made by an earlier ml-connector lacks (nullable ones only: rows
    already there keep NULL, which every reader takes as "not known"). Looked at once per process and database."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _COMPLETE:
        return
    inspector = sa.inspect(engine)
    for table in METADATA.sorted_tables:
        have = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise RuntimeError(f"{table.name}.{column.name} is missing and not nullable: migrate by hand")
            kind = column.type.compile(dialect=engine.dialect)
            with engine.begin() as conn:  # a worker adding it at the same moment makes ours fail: ensure_tables retries
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}'))
    _COMPLETE.add(key)
