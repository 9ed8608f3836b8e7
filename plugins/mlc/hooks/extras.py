"""A connection's extra as the hooks read it, whichever way the form stored the fields."""

from __future__ import annotations

from typing import Any


def connection_extras(conn: Any, conn_type: str) -> dict[str, Any]:
    """``conn.extra_dejson`` with ``extra__<conn_type>__<name>`` keys (the old form's way) read as ``<name>``.

    The connection form of ml-connector's provider stores plain names; connections made by Airflow 2
    forms, or by hand from their documentation, carry the prefixed ones. A plain name wins when both
    are set and the prefixed one is empty.
    """
    extra = dict(conn.extra_dejson or {})
    prefix = f"extra__{conn_type}__"
    for key in [k for k in extra if k.startswith(prefix)]:
        value = extra.pop(key)
        name = key[len(prefix):]
        if value not in (None, "") and extra.get(name) in (None, ""):
            extra[name] = value
    return extra
