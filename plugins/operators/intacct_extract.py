"""Extract from Sage Intacct into staging: one export (vendors, bills, GL accounts, dimensions) as
JSON lines, streamed page by page, for the render task to read (window and staging:
:mod:`operators.extract_base`; Intacct timestamps have no zone, the overlap absorbs skew).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from hooks.intacct import IntacctHook
from operators.extract_base import StagedExtractOperator

EXPORTS = ("vendors", "bills", "gl_accounts", "dimensions")
DIMENSIONS = ("DEPARTMENT", "LOCATION", "CLASS")


class IntacctExtractOperator(StagedExtractOperator):
    """Stage one export of Intacct records changed in the window as JSON lines.

    :param export: ``vendors``, ``bills`` (with their lines), ``gl_accounts`` or ``dimensions``.
    :param intacct_conn_id: Intacct connection (templated). Other parameters: :class:`StagedExtractOperator`.
    """

    EXPORTS = EXPORTS
    template_fields: Sequence[str] = (*StagedExtractOperator.template_fields, "intacct_conn_id")

    def __init__(self, *, intacct_conn_id: str = IntacctHook.default_conn_name, **kwargs: Any) -> None:
        kwargs.setdefault("pool", "intacct_default")
        super().__init__(**kwargs)
        self.intacct_conn_id = intacct_conn_id

    @cached_property
    def hook(self) -> IntacctHook:
        return IntacctHook(self.intacct_conn_id)

    def calls_made(self) -> dict[str, Any]:
        return {"requests": self.hook.requests_sent}

    def records(self, since: datetime | None, until: datetime | None, overlap: timedelta) -> Iterator[dict[str, Any]]:
        hook = self.hook
        if self.export == "vendors":
            yield from hook.iter_changed("VENDOR", since=since, until=until, overlap=overlap)
        elif self.export == "bills":
            yield from hook.iter_bills(since=since, until=until, overlap=overlap)
        elif self.export == "gl_accounts":
            yield from hook.iter_query("GLACCOUNT")  # a reference list: always whole
        else:
            for name in DIMENSIONS:  # one shape for every dimension: its code, name and parent
                for record in hook.iter_query(name):
                    yield {"DIMENSION": name, "RECORDNO": record.get("RECORDNO"), "ID": record.get(f"{name}ID"),
                           "NAME": record.get("TITLE") or record.get("NAME"), "PARENTID": record.get("PARENTID"),
                           "STATUS": record.get("STATUS"), "WHENMODIFIED": record.get("WHENMODIFIED")}
