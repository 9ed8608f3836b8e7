"""Characters XML 1.0 forbids, taken out of an Intacct answer before it is parsed.

Real Intacct companies hold text typed or imported with control characters, and the gateway sends
them as character references (``&#27;``, ``&#0;``, ``&#x1F;``) or as raw bytes. XML 1.0 (§2.2 Char,
§4.1 character references) forbids both, so a strict parser refuses the whole page, and retrying
brings the same page back. The product promises that such characters are stripped and the record
kept, so :class:`AnswerCleaner` rewrites the answer's bytes as they stream in: each forbidden
reference or byte (C0 controls but TAB, LF and CR; lone surrogates; U+FFFE and U+FFFF) becomes a
marker character that XML allows. After parsing, :func:`take_marks` removes the markers from a
record and names the fields they were in, so the caller can say which record was cleaned.

No I/O and no Airflow here; the answer is assumed UTF-8 (Intacct's only encoding), and a reference
or a UTF-8 sequence split across two chunks is handled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: A private-use character (plane 16) that takes the place of each forbidden one until the record is read.
MARK = "\U0010fffd"
_MARK_REF = b"&#x10FFFD;"

_FORBIDDEN = re.compile(
    rb"&#(?:([0-9]{1,10})|[xX]([0-9a-fA-F]{1,8}));"  # a character reference: checked below
    rb"|[\x00-\x08\x0b\x0c\x0e-\x1f]"  # a raw C0 control byte (never part of a multi-byte UTF-8 sequence)
    rb"|\xed[\xa0-\xbf][\x80-\xbf]"  # a surrogate, UTF-8 encoded
    rb"|\xef\xbf[\xbe\xbf]"  # U+FFFE, U+FFFF
)


def allowed(code: int) -> bool:
    """XML 1.0's ``Char``: TAB, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF."""
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


class AnswerCleaner:
    """Rewrites an answer chunk by chunk; ``replaced`` counts what it took out."""

    def __init__(self) -> None:
        self._carry = b""
        self.replaced = 0

    def _replace(self, match: re.Match[bytes]) -> bytes:
        decimal, hexadecimal = match.group(1), match.group(2)
        if decimal is not None or hexadecimal is not None:
            if allowed(int(decimal) if decimal is not None else int(hexadecimal, 16)):
                return match.group(0)
        self.replaced += 1
        return _MARK_REF

    def feed(self, chunk: bytes) -> bytes:
        """The cleaned bytes of ``chunk``; an incomplete reference or sequence at its end waits for the next."""
        data = self._carry + chunk
        cut = len(data)
        amp = data.rfind(b"&", max(0, cut - 16))
        if amp >= 0 and b";" not in data[amp:]:
            cut = amp
        for back in (2, 1):  # the lead byte of a 3-byte sequence that may be one of ours
            if len(data) >= back and data[-back] in (0xED, 0xEF):
                cut = min(cut, len(data) - back)
                break
        data, self._carry = data[:cut], data[cut:]
        if not _suspect(data):
            return data
        return _FORBIDDEN.sub(self._replace, data)

    def close(self) -> bytes:
        """What was held back at the end (cleaned)."""
        data, self._carry = self._carry, b""
        return _FORBIDDEN.sub(self._replace, data) if data else b""


_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def _suspect(data: bytes) -> bool:
    """Whether ``data`` may hold what :data:`_FORBIDDEN` matches, by passes in C over the bytes (a regular
    expression scanning a clean answer of several megabytes cost a seventh of an extract): a character reference,
    a C0 control byte, or the lead bytes of a surrogate or a noncharacter (``\xed``, ``\xef\xbf``)."""
    return (b"&#" in data or b"\xed" in data or b"\xef\xbf" in data
            or len(data.translate(None, _CONTROL_BYTES)) != len(data))


def take_marks(record: dict[str, Any]) -> list[str]:
    """Remove the markers from ``record`` (in place); the dotted paths of the fields they were in."""
    return list(_take(record, ""))


def _take(node: Any, path: str) -> Iterator[str]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, str):
            if MARK in value:
                node[key] = value.replace(MARK, "")
                yield where
        else:
            yield from _take(value, where)
