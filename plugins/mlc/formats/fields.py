"""Reading fields of one canonical record, with errors that name the record, its key and the field.

Shared by the X12 and EDIFACT builders so that "is required", "too long" and "not a date" read the
same whichever format a partner takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date as Date
from decimal import Decimal
from typing import Any

from mlc.formats.errors import RenderError
from mlc.formats.values import as_date, as_decimal


class RecordFields:
    """Field access for one record, with errors that name the record and the field."""

    def __init__(self, record: Mapping[str, Any], index: int | None, key_field: str) -> None:
        self.record, self.index = record, index
        self.key = str(record.get(key_field) or "") or None

    def fail(self, message: str, field: str) -> RenderError:
        return RenderError(message, record=self.index, field=field, key=self.key)

    def text(self, src: Mapping[str, Any], name: str, max_len: int, *, required: bool = False,
             label: str | None = None) -> str | None:
        value = src.get(name)
        if value is not None:
            value = (value if value.__class__ is str else str(value)).strip()
        if not value:
            if required:
                raise self.fail("is required", label or name)
            return None
        if len(value) > max_len:
            raise self.fail(f"{value!r} is longer than the {max_len} characters its element allows", label or name)
        return value

    def date(self, src: Mapping[str, Any], name: str, *, required: bool = False,
             label: str | None = None) -> Date | None:
        if src.get(name) in (None, ""):
            if required:
                raise self.fail("is required", label or name)
            return None
        return as_date(src[name], label or name, self.index)

    def amount(self, src: Mapping[str, Any], name: str, *, required: bool = False,
               label: str | None = None) -> Decimal | None:
        if src.get(name) in (None, ""):
            if required:
                raise self.fail("is required", label or name)
            return None
        return as_decimal(src[name], label or name, self.index)
