"""Peak memory of reading a Stampli export and assembling its bills (issue 18), at 1x and 10x the rows.

Side by side in one run, each in a fresh child process: the spooled path the posting task takes (rows
to a SQLite file on local disk, then whole bills 500 at a time, outcomes kept on disk, the error report
written as it goes) and, as the baseline, the previous in-memory path (every row in a list, then every
bill at once). Intacct is not called: what grows with the file is the reading, the grouping and the
outcomes; a batch's Intacct requests are the same whatever the file's size. Goal: the spooled peak at
10x is at most 1.2x its peak at 1x. Run with ``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from report import publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
BASE_INVOICES = int(os.environ.get("MLC_BENCH_STAMPLI_MEMORY_INVOICES", "10000"))
HEADER = ("Invoice Number,Vendor ID,Vendor Name,Invoice Date,Due Date,Currency,Invoice Total,GL Account,Line Amount,"
          "Line Memo,Department\r\n")


def export(path: Path, invoices: int) -> int:
    """A Stampli export of ``invoices`` bills of 3 lines, every 50th line with a bad amount; return its size."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(HEADER)
        for i in range(invoices):
            for line in range(3):
                amount = "1O.00" if (i * 3 + line) % 50 == 0 else f"{10 + line}.25"
                out.write(f"INV-{i:07d},V{i % 97:03d},Vendor {i % 97},11/02/2026,12/02/2026,USD,,6100,{amount},"
                          f"line {line} of invoice {i},OPS\r\n")
    return path.stat().st_size


def child(mode: str, path: Path, work: Path) -> dict:
    sys.path[:0] = [str(REPO), str(REPO / "plugins")]
    from mlc.formats.feed import FeedFile
    from mlc.formats.stampli import assemble_invoices, bill_key
    from mlc.operators.feeds import load_named_feed, write_error_report
    from mlc.operators.stampli_spool import RowSpool

    config = load_named_feed("stampli_to_intacct/invoices_feed")
    bills = rejected = 0
    with path.open("rb") as stream:
        feed = FeedFile(stream, config, path.name)
        if mode == "spooled":
            spool = RowSpool(work)
            spool.fill(feed.rows(), bill_key)
            for batch in spool.batches(500):
                assembled = assemble_invoices(batch, config)
                bills += len(assembled.records)
                spool.settle({n: {"status": "rejected", "error": e.reason} for n, e in assembled.rejected.items()}
                             | {n: {"status": "posted"} for b in assembled.records for n in b.rows})
            with (work / "errors.csv").open("wb") as out:
                rejected = write_error_report(out, config, feed.header, (
                    (row.cells, f"row {row.number}: {result.get('error')}") for row, result in spool.settled()
                    if result["status"] == "rejected"), spool.widest)
            spool.close()
        else:
            rows = list(feed.rows())
            assembled = assemble_invoices(rows, config)
            bills = len(assembled.records)
            cells = {row.number: row.cells for row in rows}
            out = io.BytesIO()
            rejected = write_error_report(out, config, feed.header, [(cells[n], e.reason) for n, e in
                                                                      sorted(assembled.rejected.items())], 0)
    return {"bills": bills, "rejected_rows": rejected, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        return 0
    raw: dict = {}
    with tempfile.TemporaryDirectory(prefix="mlc-stampli-memory-") as tmp:
        for scale in (1, 10):
            path = Path(tmp) / f"export_{scale}x.csv"
            size = export(path, BASE_INVOICES * scale)
            for mode in ("spooled", "in_memory"):
                work = Path(tmp) / f"{mode}_{scale}"
                work.mkdir()
                done = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(work)], cwd=REPO,
                                      check=True, capture_output=True, text=True)
                raw[f"{mode}_{scale}x"] = {**json.loads(done.stdout.strip().splitlines()[-1]), "file_mb": size / 2**20}
    spooled, baseline = raw["spooled_10x"]["peak_mb"] / raw["spooled_1x"]["peak_mb"], \
        raw["in_memory_10x"]["peak_mb"] / raw["in_memory_1x"]["peak_mb"]
    rows = [(f"Stampli read+assemble peak MB, {BASE_INVOICES * 3:,} rows", raw["spooled_1x"]["peak_mb"], "",
             raw["spooled_1x"]["peak_mb"] / raw["in_memory_1x"]["peak_mb"]),
            (f"Stampli read+assemble peak MB, {BASE_INVOICES * 30:,} rows", raw["spooled_10x"]["peak_mb"], "",
             raw["spooled_10x"]["peak_mb"] / raw["in_memory_10x"]["peak_mb"]),
            ("Stampli peak 10x / 1x (spooled)", spooled, "<= 1.2"),
            ("Stampli peak 10x / 1x (in-memory baseline)", baseline, "")]
    publish("stampli_memory", rows, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
