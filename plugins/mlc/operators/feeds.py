"""What the inbound-feed operators share: the feed file by name, and the error report they leave on
the customer's SFTP server beside the archive (both written by :class:`mlc.hooks.sftp.MlcSFTPHook`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import IO

from mlc.formats.csvfile import CsvOptions, write_csv
from mlc.formats.feed import FeedConfig, load_feed
from mlc.formats.mapping import mapping_path

REASON_COLUMN = "Reason"


def load_named_feed(name: str) -> FeedConfig:
    """A feed by its name under include/mappings (``stampli_to_intacct/invoices_feed``)."""
    return load_feed(mapping_path(name))


def write_error_report(out: IO[bytes], config: FeedConfig, header: Sequence[str],
                       rows: Iterable[tuple[Sequence[str], str]], width: int) -> int:
    """Write the rejected rows as the file had them, plus a Reason column, in the feed's own CSV dialect,
    so AP can correct them and drop the file back; return how many. Cells a spreadsheet would run are
    neutralised, in the header too. ``width`` is the most cells a rejected row has: a row with more
    cells than the header keeps them all (under ``extra 1`` ...)."""
    encoding = config.encoding.lower().replace("_", "-")
    options = CsvOptions(delimiter=config.delimiter, encoding="utf-8" if encoding == "utf-8-sig" else config.encoding,
                         bom=encoding == "utf-8-sig", formula_guard=True)
    width = max(width, len(header))
    columns = [*header, *(f"extra {i}" for i in range(1, width - len(header) + 1))]
    return write_csv(out, [*columns, REASON_COLUMN],
                     ([*(list(cells) + [""] * width)[:width], reason] for cells, reason in rows), options)


def error_report(config: FeedConfig, header: Sequence[str], rows: Sequence[tuple[Sequence[str], str]]) -> bytes:
    """:func:`write_error_report` into bytes, for a handful of rows."""
    out = io.BytesIO()
    write_error_report(out, config, header, rows, max([0, *(len(cells) for cells, _reason in rows)]))
    return out.getvalue()
