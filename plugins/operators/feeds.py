"""What the inbound-feed operators share: the feed file by name, and the moves and reports they
leave on the customer's SFTP server (archive, error reports), each safe to repeat."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

from formats.csvfile import CsvOptions, write_csv
from formats.feed import FeedConfig, load_feed
from hooks.sftp import ensure_remote_dir
from operators.render_file import mapping_path

REASON_COLUMN = "Reason"


def load_named_feed(name: str) -> FeedConfig:
    """A feed by its name under include/mappings (``stampli_to_intacct/invoices_feed``)."""
    return load_feed(mapping_path(name))


def _exists(sftp: Any, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def move_aside(sftp: Any, path: str, folder: str, sha256: str) -> str:
    """Move ``path`` into ``folder``; a name already taken there gets the file's short hash added."""
    ensure_remote_dir(sftp, folder)
    name = posixpath.basename(path)
    target = posixpath.join(folder, name)
    if _exists(sftp, target):
        stem, dot, ext = name.rpartition(".")
        target = posixpath.join(folder, f"{stem}.{sha256[:12]}.{ext}" if dot else f"{name}.{sha256[:12]}")
        if _exists(sftp, target):  # the same bytes were archived before under this name: drop the copy
            sftp.remove(path)
            return target
    sftp.posix_rename(path, target)
    return target


def put_bytes(sftp: Any, folder: str, name: str, data: bytes) -> str:
    """Write ``data`` as ``folder/name`` through a temporary name, replacing an earlier version."""
    ensure_remote_dir(sftp, folder)
    final, temp = posixpath.join(folder, name), posixpath.join(folder, f".{name}.part")
    sftp.putfo(io.BytesIO(data), temp, file_size=len(data), confirm=True)
    sftp.posix_rename(temp, final)
    return final


def error_report(config: FeedConfig, header: Sequence[str], rows: Iterable[tuple[Sequence[str], str]]) -> bytes:
    """The rejected rows as the file had them, plus a Reason column, in the feed's own CSV dialect,
    so AP can correct them and drop the file back. Cells a spreadsheet would run are neutralised."""
    encoding = config.encoding.lower().replace("_", "-")
    options = CsvOptions(delimiter=config.delimiter, encoding="utf-8" if encoding == "utf-8-sig" else config.encoding,
                         bom=encoding == "utf-8-sig", formula_guard=True)
    width = len(header)
    out = io.BytesIO()
    write_csv(out, [*header, REASON_COLUMN],
              ([*(list(cells) + [""] * width)[:width], reason] for cells, reason in rows), options)
    return out.getvalue()
