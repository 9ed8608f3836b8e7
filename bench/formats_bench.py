"""Benchmark of the formats library (issue 3): render 100,000 AP bills of 3 lines each to X12 810
and to CSV, each in a fresh process so peak RSS is its own; compare X12 with a bare baseline
that writes the same segments with a plain loop and join.

Run with ``make bench``; prints a table and writes ``bench/results.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from report import publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "plugins")]
BILLS = int(os.environ.get("MLC_BENCH_BILLS", "100000"))


def bills(n: int):
    for i in range(n):
        yield {
            "RECORDID": f"BILL-{i:07d}", "WHENCREATED": "2026-11-02", "DOCNUMBER": f"PO-{i % 977}",
            "VENDORNAME": f"Vendor {i % 5000}", "VENDORID": f"V{i % 5000:05d}", "CURRENCY": "USD",
            "TERMNAME": "Net 30", "WHENDUE": "2026-12-02", "TOTALENTERED": "360.00",
            "APBILLITEMS": {"APBILLITEM": [
                {"LINE_NO": str(n_), "TRX_AMOUNT": "120.00", "ENTRYDESCRIPTION": f"Line {n_}", "ACCOUNTNO": "6100"}
                for n_ in (1, 2, 3)]},
        }


def run_case(case: str) -> dict:
    from mlc.formats.control_numbers import FileControlNumberStore
    from mlc.formats.mapping import load_mapping
    from mlc.formats.render import render

    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlc-bench-{case}.out"
    start = time.perf_counter()
    with open(out_path, "wb", buffering=1 << 20) as out:
        if case == "baseline":
            size = baseline(out)
        else:
            mapping_file = {"x12": "intacct_to_sftp/bills_x12_810.yaml", "csv": "intacct_to_sftp/vendors_csv.yaml"}[case]
            mapping = load_mapping(REPO / "include" / "mappings" / mapping_file)
            if case == "csv":
                mapping = dict(mapping, columns=[
                    {"name": "bill", "path": "RECORDID"}, {"name": "date", "path": "WHENCREATED", "type": "date"},
                    {"name": "vendor", "path": "VENDORID"}, {"name": "name", "path": "VENDORNAME"},
                    {"name": "total", "path": "TOTALENTERED", "type": "amount"}, {"name": "currency", "path": "CURRENCY"}])
            store = FileControlNumberStore(out_path.with_suffix(".cn.json"))
            result = render(mapping, bills(BILLS), out, timestamp=datetime(2026, 11, 21, 6), run_key=f"bench-{time.time()}",
                            store=store)
            assert not result.rejected, result.rejected[:3]
            size = result.bytes
    seconds = time.perf_counter() - start
    out_path.unlink()
    return {"case": case, "bills": BILLS, "seconds": seconds, "bytes": size,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def baseline(out) -> int:
    """The same 810 segments with a plain loop and join: no mapping, no checks, no cleaning."""
    size = 0
    head = ("ISA*00*          *00*          *ZZ*MLCBUYER       *ZZ*ACMESUPPLY     *261121*0600*U*00401*000000001*0*P*>~\n"
            "GS*IN*MLCBUYER*ACMESUPPLY*20261121*0600*1*X*004010~\n")
    out.write(head.encode())
    size += len(head)
    for n, bill in enumerate(bills(BILLS), 1):
        segs = [f"ST*810*{n:04d}", f"BIG*20261102*{bill['RECORDID']}**{bill['DOCNUMBER']}", "CUR*SE*USD",
                f"N1*RE*{bill['VENDORNAME']}*92*{bill['VENDORID']}", "N1*BT*MLC DEMO BUYER*92*MLCBUYER",
                "ITD*01*3****20261202******Net 30"]
        for line in bill["APBILLITEMS"]["APBILLITEM"]:
            segs.append(f"IT1*{line['LINE_NO']}*1*EA*120**VP*{line['ACCOUNTNO']}")
            segs.append(f"PID*F****{line['ENTRYDESCRIPTION']}")
        segs += ["TDS*36000", "CTT*3"]
        segs.append(f"SE*{len(segs) + 1}*{n:04d}")
        text = "~\n".join(segs) + "~\n"
        out.write(text.encode())
        size += len(text)
    tail = f"GE*{BILLS}*1~\nIEA*1*000000001~\n"
    out.write(tail.encode())
    return size + len(tail)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2])))
        return 0
    results = {}
    for case in ("x12", "baseline", "csv"):
        done = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True, check=True)
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    x12, base, csv_ = results["x12"], results["baseline"], results["csv"]
    rows = [
        ("X12 810 invoices/s", x12["bills"] / x12["seconds"], ">= 20000", None),
        ("X12 810 bytes/s", x12["bytes"] / x12["seconds"], "", None),
        ("X12 810 time vs bare baseline", x12["seconds"] / base["seconds"], "<= 3x", x12["seconds"] / base["seconds"]),
        ("X12 810 peak RSS MB", x12["peak_rss_mb"], "< 200", None),
        ("CSV invoices/s", csv_["bills"] / csv_["seconds"], "", None),
        ("CSV bytes/s", csv_["bytes"] / csv_["seconds"], "", None),
        ("CSV peak RSS MB", csv_["peak_rss_mb"], "< 200", None),
        ("baseline invoices/s", base["bills"] / base["seconds"], "", None),
    ]
    publish("formats", rows, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
