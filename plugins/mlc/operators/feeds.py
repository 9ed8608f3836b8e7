"""What the inbound-feed operators share: the feed file by name, and the error report they leave on
the customer's SFTP server beside the archive (both written by :class:`mlc.hooks.sftp.MlcSFTPHook`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from mlc.formats.csvfile import CsvOptions, write_csv
from mlc.formats.feed import FeedConfig, load_feed
from mlc.formats.mapping import mapping_path

REASON_COLUMN = "Reason"


def load_named_feed(name: str) -> FeedConfig:
    """A feed by its name under include/mappings (``stampli_to_intacct/invoices_feed``)."""
    return load_feed(mapping_path(name))


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
