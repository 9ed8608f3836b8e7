"""Peak memory and time of the EDI tools on many tiny transaction sets (issue 18), at 1x and 10x.

``mlc validate`` and ``mlc ack`` on an X12 interchange and an EDIFACT interchange of 30,000 and
300,000 tiny sets (about 1.3 and 13 MB), each in a fresh child process. Goals: 300,000 sets in under
400 MB and a minute, and memory flat in the file's size (the peak at 10x at most 1.2x the peak at 1x):
the tools read a file 64 KiB at a time and hand on each set's verdict as the set ends. Run with
``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
BASE_SETS = int(os.environ.get("MLC_BENCH_EDI_SETS", "30000"))
ISA = "ISA*00*          *00*          *ZZ*SENDERID       *ZZ*RECEIVERID     *240115*1200*U*00401*000000001*0*P*>~"


def x12(path: Path, sets: int) -> None:
    with path.open("w") as out:
        out.write(ISA + "GS*IN*SENDERID*RECEIVERID*20240115*1200*1*X*004010~")
        for i in range(1, sets + 1):
            out.write(f"ST*810*{i:04d}~BIG*20240115*X~TDS*100~SE*4*{i:04d}~")
        out.write(f"GE*{sets}*1~IEA*1*000000001~")


def edifact(path: Path, sets: int) -> None:
    with path.open("w") as out:
        out.write("UNA:+.? 'UNB+UNOA:3+SENDER:14+RECEIVER:14+240115:1200+000000001'")
        for i in range(1, sets + 1):
            out.write(f"UNH+{i}+INVOIC:D:96A:UN'BGM+380+X'DTM+137:20240115:102'UNS+S'MOA+86:100'UNT+6+{i}'")
        out.write(f"UNZ+{sets}+000000001'")


def child(command: str, path: str, control: str) -> dict:
    sys.path[:0] = [str(REPO), str(REPO / "plugins")]
    from mlc.cli import main

    started = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = main([command, path, *(["--control-file", control] if command == "ack" else [])])
    return {"code": code, "seconds": time.perf_counter() - started,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:])))
        return 0
    raw: dict = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlc-edi-bench-") as tmp:
        for standard, build in (("X12", x12), ("EDIFACT", edifact)):
            for scale in (1, 10):
                path = Path(tmp) / f"{standard}_{scale}x.edi"
                build(path, BASE_SETS * scale)
                for command in ("validate", "ack"):
                    done = subprocess.run([sys.executable, __file__, "--child", command, str(path),
                                           str(Path(tmp) / "cn.json")], cwd=REPO, check=True, capture_output=True,
                                          text=True)
                    raw[f"{standard}_{command}_{scale}x"] = {**json.loads(done.stdout.strip().splitlines()[-1]),
                                                             "file_mb": path.stat().st_size / 2**20}
            for command in ("validate", "ack"):
                one, ten = raw[f"{standard}_{command}_1x"], raw[f"{standard}_{command}_10x"]
                rows += [(f"mlc {command} {standard}, {BASE_SETS * 10:,} sets, peak MB", ten["peak_mb"], "< 400"),
                         (f"mlc {command} {standard}, {BASE_SETS * 10:,} sets, s", ten["seconds"], "< 60"),
                         (f"mlc {command} {standard} peak 10x / 1x", ten["peak_mb"] / one["peak_mb"], "<= 1.2")]
    publish("edi_tools", rows, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
