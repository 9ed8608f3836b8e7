"""Small checks the operators share: how a templated flag reads, and what a remote file name may be."""

from __future__ import annotations

import re
from typing import Any

_PLAIN_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def truthy(value: Any) -> bool:
    """A Param rendered through a template arrives as text: ``"True"``, ``"true"``, ``"1"``, ``"yes"``."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def is_plain_file_name(name: str) -> bool:
    """A name with no folder in it, no leading dot and nothing a shell or a partner's job trips on."""
    return bool(_PLAIN_FILE_NAME.match(name))
