"""Benchmark of IntacctHook (issue 4): extract 100,000 bills with their lines from the sandbox
gateway, which runs in a process of its own so the client's peak RSS is its own.

Reports requests per 10,000 bills (and the floor the page sizes allow), records per second of
client-side parsing, the ratio of the hook's parse time to a bare lxml parse of the same pages
(``etree.fromstring`` + a dict per record, no checks, no streaming) and peak RSS at N/10 and N
bills (flat means streaming works). Run with ``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from report import publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
BILLS = int(os.environ.get("MLC_BENCH_BILLS", "100000"))
ANCHOR = datetime(2026, 11, 16)


def serve(bills: int) -> None:
    """Child process: the gateway with ``bills`` bills; prints its connection, serves until stdin closes."""
    from sandbox.intacct import IntacctSandbox
    from sandbox.intacct_data import Seed

    with IntacctSandbox(seed=Seed(bills=bills, anchor=ANCHOR)) as gateway:
        print(json.dumps(gateway.connections()["intacct_default"]), flush=True)
        sys.stdin.read()


def extract(conn: dict, compare: bool) -> dict:
    """Child process: the hook extracts every bill; parse time measured around ``parse_response``."""
    os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"] = json.dumps(conn)
    os.environ.setdefault("AIRFLOW_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / "mlc-bench-airflow"))
    from lxml import etree

    import mlc.hooks.intacct as intacct_module
    from mlc.hooks.intacct import IntacctHook

    timings = {"hook": 0.0, "bare": 0.0, "records": 0}
    real_parse = intacct_module.parse_response

    def timed_parse(chunks, **kwargs):
        body = b"".join(chunks)
        start = time.perf_counter()
        parsed = real_parse([body[i:i + 65536] for i in range(0, len(body), 65536)], **kwargs)
        timings["hook"] += time.perf_counter() - start
        timings["records"] += sum(len(r.records) for r in parsed.results)
        if compare:
            start = time.perf_counter()
            root = etree.fromstring(body)
            for data in root.iter("data"):
                [{child.tag: (child.text or "") for child in record} for record in data]
            timings["bare"] += time.perf_counter() - start
        return parsed

    intacct_module.parse_response = timed_parse
    hook = IntacctHook()
    start = time.perf_counter()
    bills = lines = 0
    for bill in hook.iter_bills(since=datetime(2026, 10, 1, tzinfo=timezone.utc),
                                until=datetime(2026, 11, 17, tzinfo=timezone.utc)):
        bills += 1
        lines += len(bill["APBILLITEMS"]["APBILLITEM"])
    return {"bills": bills, "lines": lines, "requests": hook.requests_sent, "seconds": time.perf_counter() - start,
            "parse_seconds": timings["hook"], "bare_parse_seconds": timings["bare"], "parsed_records": timings["records"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(bills: int, compare: bool) -> dict:
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(bills)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        conn = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        done = subprocess.run([sys.executable, __file__, "--extract", json.dumps(conn), "1" if compare else "0"],
                              capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=60)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--extract":
        print(json.dumps(extract(json.loads(sys.argv[2]), sys.argv[3] == "1")))
        return 0
    small = run(max(10, BILLS // 10), compare=False)
    big = run(BILLS, compare=True)
    floor = 1 + -(-big["bills"] // 2000) + -(-big["lines"] // 2000)  # login + full pages of bills and of lines
    rows = [
        ("Intacct requests per 10,000 bills", big["requests"] * 10000 / big["bills"], "fewest the pages allow"),
        ("Intacct page-size floor per 10,000", floor * 10000 / big["bills"], ""),
        ("Intacct parse records/s", big["parsed_records"] / big["parse_seconds"], ""),
        ("Intacct parse vs bare lxml", big["parse_seconds"] / big["bare_parse_seconds"], "<= 2x",
         big["parse_seconds"] / big["bare_parse_seconds"]),
        ("Intacct bills/s end to end", big["bills"] / big["seconds"], ""),
        (f"Intacct peak RSS MB at {small['bills']:,} bills", small["peak_rss_mb"], "flat"),
        (f"Intacct peak RSS MB at {big['bills']:,} bills", big["peak_rss_mb"], "flat"),
    ]
    publish("intacct", rows, {"small": small, "big": big})
    return 0


if __name__ == "__main__":
    sys.exit(main())
