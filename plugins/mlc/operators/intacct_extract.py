"""Extract from Sage Intacct into staging: one export (vendors, bills, GL accounts, dimensions) as
JSON lines, streamed page by page, for the render task to read (window and staging:
:mod:`mlc.operators.extract_base`; Intacct timestamps have no zone, the overlap absorbs skew).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from mlc.hooks.intacct import IntacctHook
from mlc.hooks.intacct_reads import FIELDS
from mlc.hooks.intacct_xml import MAX_IN_VALUES
from mlc.operators.extract_base import StagedExtractOperator

EXPORTS = ("vendors", "bills", "gl_accounts", "dimensions", "payments", "deletes")
DIMENSIONS = ("DEPARTMENT", "LOCATION", "CLASS")
#: the objects whose deletions ``deletes`` reads from AUDITHISTORY
DELETABLE = ("VENDOR", "APBILL", "APPYMT", "GLACCOUNT")
#: the Intacct objects each export reads (lineage's input datasets)
SOURCE_OBJECTS = {"vendors": ("VENDOR",), "bills": ("APBILL", "APBILLITEM"), "gl_accounts": ("GLACCOUNT",),
                  "dimensions": DIMENSIONS, "payments": ("APPYMT", "APPYMTDETAIL"), "deletes": ("AUDITHISTORY",)}


class IntacctExtractOperator(StagedExtractOperator):
    """Stage one export of Intacct records changed in the window as JSON lines.

    :param export: ``vendors``, ``bills`` (with their lines), ``gl_accounts``, ``dimensions``, ``payments`` (with the
        bills each pays, APPYMTDETAIL) or
        ``deletes`` (AUDITHISTORY deletions of vendors, bills, payments and GL accounts in the window).
    :param dimensions: the dimension objects the ``dimensions`` export reads (templated; custom ones too).
    :param extra_fields: more fields to read, by object (``{"APBILL": ["CUSTOMFIELD"]}``; templated): a
        customer's custom fields.
    :param vendor_ids: stage only the vendors and bills of these VENDORIDs (a partner profile serving them).
    :param except_vendor_ids: stage none of these vendors' records (the vendors other profiles serve).
    :param intacct_conn_id: Intacct connection (templated). Other parameters: :class:`StagedExtractOperator`.
    """

    EXPORTS = EXPORTS
    template_fields: Sequence[str] = (*StagedExtractOperator.template_fields, "intacct_conn_id", "dimensions",
                                      "extra_fields")

    def __init__(self, *, intacct_conn_id: str = IntacctHook.default_conn_name, dimensions: Any = DIMENSIONS,
                 extra_fields: Any = None, vendor_ids: list[str] | None = None,
                 except_vendor_ids: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("pool", "intacct_default")
        super().__init__(**kwargs)
        self.intacct_conn_id, self.dimensions, self.extra_fields = intacct_conn_id, dimensions, extra_fields
        self.vendor_ids, self.except_vendor_ids = vendor_ids, except_vendor_ids

    def _vendor_wanted(self, record: dict[str, Any]) -> bool:
        vendor = str(record.get("VENDORID") or "").strip()
        if self.vendor_ids is not None and vendor not in self.vendor_ids:
            return False
        return not (self.except_vendor_ids and vendor in self.except_vendor_ids)

    def fields(self, obj: str) -> list[str] | None:
        """The object's usual fields plus the extra ones asked for; ``None``: the usual ones."""
        extra = self.extra_fields
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        wanted = [f for f in (extra or {}).get(obj, []) if f not in FIELDS.get(obj, ())]
        return [*FIELDS[obj], *wanted] if wanted else None

    @cached_property
    def hook(self) -> IntacctHook:
        return IntacctHook(self.intacct_conn_id)

    def calls_made(self) -> dict[str, Any]:
        return {"requests": self.hook.requests_sent}

    def cleaned(self) -> list[dict[str, Any]]:
        return self.hook.cleaned

    @property
    def source_conn_id(self) -> str:
        return str(self.intacct_conn_id)

    lineage_scheme = "intacct"

    def source_objects(self) -> list[str]:
        return list(SOURCE_OBJECTS.get(self.export, (self.export,)))

    def records(self, since: datetime | None, until: datetime | None, overlap: timedelta) -> Iterator[dict[str, Any]]:
        hook = self.hook
        # A profile's own vendors are asked for by name (Intacct filters); the others are left out here.
        only = ("in", "VENDORID", list(self.vendor_ids)) if self.vendor_ids and len(self.vendor_ids) <= MAX_IN_VALUES \
            else None
        if self.export == "vendors":
            vendors = hook.iter_changed("VENDOR", self.fields("VENDOR"), since=since, until=until, overlap=overlap,
                                        filter=only)
            yield from filter(self._vendor_wanted, vendors)
        elif self.export == "bills":
            bills = hook.iter_bills(since=since, until=until, overlap=overlap, fields=self.fields("APBILL"),
                                    filter=only)
            yield from filter(self._vendor_wanted, bills)
        elif self.export == "gl_accounts":
            yield from hook.iter_query("GLACCOUNT")  # a reference list: always whole
        elif self.export == "payments":
            yield from hook.iter_payments(fields=self.fields("APPYMT"), since=since, until=until, overlap=overlap)
        elif self.export == "deletes":
            if since is None:
                raise ValueError("deletions are read for a window: give window_start or run on a schedule")
            for obj in DELETABLE:
                for deleted in hook.iter_deleted(obj, since=since - overlap, until=until):
                    yield {"OBJECT": obj, **deleted}
        else:
            names = self.dimensions if isinstance(self.dimensions, (list, tuple)) else \
                [d.strip() for d in str(self.dimensions).strip("[]").replace("'", "").split(",") if d.strip()]
            for name in (n.upper() for n in names):  # one shape for every dimension: its code, name and parent
                for record in hook.iter_query(name):
                    yield {"DIMENSION": name, "RECORDNO": record.get("RECORDNO"), "ID": record.get(f"{name}ID"),
                           "NAME": record.get("TITLE") or record.get("NAME"), "PARENTID": record.get("PARENTID"),
                           "STATUS": record.get("STATUS"), "WHENMODIFIED": record.get("WHENMODIFIED"),
                           "RECORD": record}  # the whole record, for consumers that keep every field
