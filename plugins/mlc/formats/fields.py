"""Reading fields of one canonical record, with errors that name the record, its key and the field.

Shared by the X12 and EDIFACT builders so that "is required", "too long" and "not a date" read the
same whichever format a partner takes.

A value longer than its element allows is, for descriptive text (names, addresses, descriptions),
cut to the element's maximum under the mapping's ``length: cut`` policy (the default) and noted, so
that a vendor whose name is longer than X12's 60 characters still gets its invoices; under
``length: refuse``, and always for identifiers (an invoice number cut short is another invoice), it
is an error that keeps the record out of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date as Date
from decimal import Decimal
from typing import Any

from mlc.formats.errors import RenderError
from mlc.formats.values import as_date, as_decimal


LENGTH_POLICIES = ("cut", "refuse")
# An amount as_decimal takes as it is (at most 15 digits before the point, as values.MAX_INTEGER_DIGITS).
_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,12})?\Z")


class RecordFields:
    """Field access for one record, with errors that name the record and the field."""

    def __init__(self, record: Mapping[str, Any], index: int | None, key_field: str, *, length: str = "cut",
                 notes: list[dict[str, Any]] | None = None) -> None:
        if length not in LENGTH_POLICIES:
            raise ValueError(f"length policy must be one of {LENGTH_POLICIES}, not {length!r}")
        self.record, self.index = record, index
        self.key = str(record.get(key_field) or "") or None
        self.cut_long, self.notes = length == "cut", notes

    def fail(self, message: str, field: str) -> RenderError:
        return RenderError(message, record=self.index, field=field, key=self.key)

    @staticmethod
    def _label(name: str, label: str | None, at: str | None) -> str:
        """The field as errors name it: ``label``, else ``<at>.<name>`` (made only when there is an error to name)."""
        return label or (f"{at}.{name}" if at else name)

    def text(self, src: Mapping[str, Any], name: str, max_len: int, *, required: bool = False,
             label: str | None = None, cut: bool = False, at: str | None = None) -> str | None:
        """The field as element text; ``cut``: descriptive text that the length policy may cut to ``max_len``;
        ``at``: where ``src`` is in the record (``lines[2]``), for errors."""
        value = src.get(name)
        if value.__class__ is str:
            value = value.strip()
        elif value is not None:
            value = str(value).strip()
        if not value:
            if required:
                raise self.fail("is required", self._label(name, label, at))
            return None
        if len(value) > max_len:
            where = self._label(name, label, at)
            if not (cut and self.cut_long):
                raise self.fail(f"{value!r} is longer than the {max_len} characters its element allows", where)
            if self.notes is not None:
                self.notes.append({"record": self.index, "key": self.key, "field": where,
                                   "change": f"cut to the {max_len} characters its element allows (was {len(value)})"})
            value = value[:max_len].rstrip()
        return value

    def date(self, src: Mapping[str, Any], name: str, *, required: bool = False,
             label: str | None = None, at: str | None = None) -> Date | None:
        value = src.get(name)
        if value is None or value == "":
            if required:
                raise self.fail("is required", self._label(name, label, at))
            return None
        return as_date(value, self._label(name, label, at), self.index)

    def amount(self, src: Mapping[str, Any], name: str, *, required: bool = False,
               label: str | None = None, at: str | None = None) -> Decimal | None:
        value = src.get(name)
        if value is None or value == "":
            if required:
                raise self.fail("is required", self._label(name, label, at))
            return None
        if value.__class__ is str and _PLAIN_DECIMAL.match(value):
            return Decimal(value)  # the common case: no sign of trouble, nothing to name
        return as_decimal(value, self._label(name, label, at), self.index)
