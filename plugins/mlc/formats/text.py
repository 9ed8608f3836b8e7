"""Cleaning text for EDI elements: separators out, the partner's character set in.

X12 has no escape character (before 8010) and EDIFACT UNOA allows upper case only, so a value
that holds a separator or a character outside the repertoire must be either cleaned (replaced,
transliterated) or refused, per the mapping's ``policy``. It is never written raw.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

from mlc.formats.errors import RenderError

# X12.6 character sets.
X12_BASIC = frozenset(string.ascii_uppercase + string.digits + " !\"&'()*+,-./:;?=")
X12_EXTENDED = X12_BASIC | frozenset(string.ascii_lowercase + "%@[]_{}\\|<>#$")
# ISO 9735 level A (UNOA): upper case only; the service characters are handled by escaping.
UNOA = frozenset(string.ascii_uppercase + string.digits + " .,-()/=!\"%&*;<>'+:?")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def transliterate(value: str) -> str:
    """Fold accents (``München`` -> ``Munchen``) and typographic punctuation to ASCII where possible."""
    folded = unicodedata.normalize("NFKD", value)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2013: "-", 0x2014: "-",
                             0x00A0: " ", 0x00DF: "SS",
                             0x0141: "L", 0x0142: "l", 0x00D8: "O", 0x00F8: "o", 0x0110: "D", 0x0111: "d",
                             0x00C6: "AE", 0x00E6: "ae", 0x0152: "OE", 0x0153: "oe"})


@dataclass(frozen=True)
class TextPolicy:
    """How element text is made safe.

    :param policy: ``clean`` replaces what is not allowed; ``refuse`` raises :class:`RenderError`.
    :param forbidden: characters that must never appear (the separators in use).
    :param charset: allowed characters, or ``None`` for anything (after ``forbidden``).
    :param upper: upper-case every value first (partners that require it; UNOA).
    :param replacement: what a forbidden character becomes under ``clean``.
    """

    policy: str = "clean"
    forbidden: str = ""
    charset: frozenset[str] | None = None
    upper: bool = False
    replacement: str = " "

    def __post_init__(self) -> None:
        if self.policy not in ("clean", "refuse"):
            raise ValueError(f"text policy must be 'clean' or 'refuse', not {self.policy!r}")
        if self.replacement and (self.replacement in self.forbidden or
                                 (self.charset is not None and self.replacement not in self.charset)):
            raise ValueError(f"replacement {self.replacement!r} is itself not allowed")
        pattern = "[" + re.escape(self.forbidden) + "\\x00-\\x1f\\x7f]" if self.forbidden else _CONTROL.pattern
        object.__setattr__(self, "_bad", re.compile(pattern))
        # Characters that need no work at all: the fast path of is_clean().
        safe = None if self.charset is None or self.upper else frozenset(
            c for c in self.charset if c not in self.forbidden and not _CONTROL.match(c))
        object.__setattr__(self, "_safe", safe)

    def is_clean(self, value: str) -> bool:
        """True when ``value`` can be written as it is (no cleaning, nothing to refuse)."""
        return self._safe is not None and self._safe.issuperset(value)  # type: ignore[attr-defined]

    def apply(self, value: str, *, record: int | None = None, field: str | None = None) -> str:
        """Return ``value`` made safe, or raise :class:`RenderError` naming the record and field."""
        if self.upper:
            value = value.upper()
        bad = self._bad.search(value)  # type: ignore[attr-defined]
        outside = self.charset is not None and not self.charset.issuperset(value)
        if bad is None and not outside:
            return value
        if self.policy == "refuse":
            offending = sorted({ch for ch in value if ch in self.forbidden or _CONTROL.match(ch)
                                or (self.charset is not None and ch not in self.charset)})
            raise RenderError(f"value {value!r} contains characters not allowed here: {offending!r}",
                              record=record, field=field)
        cleaned = self._bad.sub(self.replacement, value)  # type: ignore[attr-defined]
        if self.charset is not None:
            cleaned = "".join(self._fit(ch) for ch in cleaned)
        return cleaned.strip()

    def _fit(self, ch: str) -> str:
        """One character into the charset: kept, transliterated (``ü`` -> ``u``), or replaced."""
        assert self.charset is not None
        if ch in self.charset and ch not in self.forbidden:
            return ch
        folded = transliterate(ch)
        if self.upper:
            folded = folded.upper()
        if folded and all(c in self.charset and c not in self.forbidden for c in folded):
            return folded
        return self.replacement
