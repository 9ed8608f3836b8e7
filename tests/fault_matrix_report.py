#!/usr/bin/env python3
"""Print the fault matrix that ``make faults`` collected (one JSON line per DAG and fault).

Usage: fault_matrix_report.py ROWS.jsonl [--json OUT.json]. Exit 1 when a row lost or duplicated a
record, a failure was not named in the log, or there are no rows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

WIDTH = 110


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()] if source.exists() else []
    if not rows:
        print(f"no fault matrix rows in {source}")
        return 1
    if "--json" in argv:
        Path(argv[argv.index("--json") + 1]).write_text(json.dumps(rows, indent=1))
    header = ("DAG", "fault", "outcome", "records", "lost", "dup", "what the log says")
    table = [(r["dag"], r["fault"], r["outcome"], str(r["expected"]), str(r["lost"]), str(r["duplicated"]),
              (r["log"] if len(r["log"]) <= WIDTH else r["log"][:WIDTH - 1] + "…")) for r in rows]
    widths = [max(len(row[i]) for row in (header, *table)) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header).rstrip())
    print(line.format(*("-" * w for w in widths)).rstrip())
    for row in table:
        print(line.format(*row).rstrip())
    bad = [r for r in rows if r["lost"] or r["duplicated"] or ("failed" in r["outcome"] and not r["log"])
           or ("FAILED" in r["outcome"])]
    print(f"\n{len(rows)} cases over {len({r['dag'] for r in rows})} DAGs: "
          f"{sum(r['lost'] for r in rows)} records lost, {sum(r['duplicated'] for r in rows)} duplicated, "
          f"{sum('failed' in r['outcome'] for r in rows)} runs failed and were replayed, {len(bad)} bad cells")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
