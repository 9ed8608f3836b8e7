"""Typed values for EDI and flat files: dates, decimals, implied-decimal amounts.

Canonical records carry ISO dates and decimal amounts as strings or numbers; these helpers turn
them into what a format wants and raise :class:`RenderError` naming the field when they cannot.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from mlc.formats.errors import RenderError

# 999 trillion: larger is a typing or export error, and would overflow Intacct's and Exact's amounts.
MAX_INTEGER_DIGITS = 15


_MM_DD_YYYY = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")


def as_date(value: Any, field: str, record: int | None = None) -> date:
    """Accept ``date``/``datetime``, ISO ``YYYY-MM-DD[THH:MM...]``, ``YYYYMMDD`` or ``MM/DD/YYYY``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if len(text) >= 10 and text[4] == "-":
        try:
            return date.fromisoformat(text[:10])  # the common case, in C
        except ValueError:
            pass
    elif (us := _MM_DD_YYYY.match(text)) is not None:
        try:  # Intacct's MM/DD/YYYY, without strptime (a fifth of a render's time when every date took it)
            return date(int(us[3]), int(us[1]), int(us[2]))
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text[:10] if fmt != "%Y%m%d" else text, fmt).date()
        except ValueError:
            continue
    raise RenderError(f"{value!r} is not a date (expected YYYY-MM-DD)", record=record, field=field)


def as_decimal(value: Any, field: str, record: int | None = None) -> Decimal:
    """Accept int, float, Decimal or a numeric string (``1,234.50`` is refused: no thousands separators)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise RenderError(f"{value!r} is not an amount", record=record, field=field)
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, float) else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        raise RenderError(f"{_short(value)} is not an amount", record=record, field=field) from None
    if not number.is_finite():
        raise RenderError(f"{value!r} is not a finite amount", record=record, field=field)
    if number and number.adjusted() >= MAX_INTEGER_DIGITS:
        raise RenderError(f"{_short(value)} is too large for an amount (more than {MAX_INTEGER_DIGITS} digits before "
                          "the decimal point)", record=record, field=field)
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def decimal_text(value: Decimal, places: int | None = None) -> str:
    """Explicit decimal (X12 type R, EDIFACT n): no exponent, no trailing zeros unless ``places``."""
    if places is not None:
        return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def implied(value: Decimal, places: int = 2) -> str:
    """Implied-decimal integer (X12 type N2: 325.00 -> ``32500``)."""
    return str(int((value * (10**places)).to_integral_value(rounding=ROUND_HALF_UP)))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
