"""Small checks the operators share: how a templated flag reads, and what a remote file name may be."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_PLAIN_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def truthy(value: Any) -> bool:
    """A Param rendered through a template arrives as text: ``"True"``, ``"true"``, ``"1"``, ``"yes"``."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def is_plain_file_name(name: str) -> bool:
    """A name with no folder in it, no leading dot and nothing a shell or a partner's job trips on."""
    return bool(_PLAIN_FILE_NAME.match(name))


# Cc: control characters (C0, DEL, C1); Cf: format characters (bidi overrides and marks, zero-width); Zl, Zp:
# line and paragraph separators; Cs, Co, Cn: surrogates, private use, unassigned.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def is_safe_inbound_name(name: str) -> bool:
    """A name someone else put in a folder we read: no way out of the folder, no hidden or partial file.

    Wider than :func:`is_plain_file_name` (spaces and accents are fine in an export's name), but a
    slash, a backslash, ``..``, a leading dot, a control character (C0, DEL, C1), and what makes a name
    read otherwise than it is (bidi overrides such as U+202E, zero-width characters, line and paragraph
    separators) are refused.
    """
    return (bool(name) and len(name) <= 255 and not name.startswith(".") and "/" not in name and "\\" not in name
            and not any(unicodedata.category(c) in UNSAFE_CATEGORIES for c in name))
