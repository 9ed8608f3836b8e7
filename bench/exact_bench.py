"""Benchmark of ExactOnlineHook (issue 7): extract 10,000 purchase invoices with 3 lines each, and the
supplier codes they need, from the Exact Online sandbox, as the extract task does.

The sandbox keeps Exact's rate limit of 60 calls a window, with the window scaled down from a minute
to ``MLC_BENCH_EXACT_WINDOW`` seconds (1 s by default), so the pacing is exercised without waiting
minutes. Reports API calls (goal: at most 300, against about 10,000 for a call per invoice), 429s
received (goal: none) and wall time. Run with ``make bench``; writes into ``bench/results.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from report import publish  # bench/ is on sys.path when a benchmark runs as a script

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "plugins")]
INVOICES = int(os.environ.get("MLC_BENCH_EXACT_INVOICES", "10000"))
WINDOW = float(os.environ.get("MLC_BENCH_EXACT_WINDOW", "1.0"))


def main() -> int:
    from cryptography.fernet import Fernet

    from sandbox.exact import ExactSandbox
    from sandbox.exact_data import ExactSeed

    with tempfile.TemporaryDirectory(prefix="mlc-exact-bench-") as tmp:
        os.environ.update({"MLC_STATE_URL": f"sqlite:///{tmp}/state.db", "AIRFLOW_HOME": tmp,
                           "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode()})
        with ExactSandbox(seed=ExactSeed(invoices=INVOICES, lines=(3, 3)), window_seconds=WINDOW,
                          minutely_limit=60) as exact:
            os.environ["AIRFLOW_CONN_EXACT_ONLINE_DEFAULT"] = json.dumps(exact.connections()["exact_online_default"])
            from mlc.hooks.exact_online import ExactOnlineHook

            hook = ExactOnlineHook()
            started = time.perf_counter()
            codes = {s["ID"]: s["Code"] for s in hook.iter_object("suppliers")}
            invoices = lines = 0
            for entry in hook.iter_purchase_entries(since=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                                    until=datetime(2026, 12, 31, tzinfo=timezone.utc)):
                invoices += 1
                lines += len(entry["PurchaseEntryLines"])
                assert codes.get(entry["Supplier"])
            seconds = time.perf_counter() - started
            served_429 = sum(1 for r in exact.requests if r.path.startswith("/api/v1/")) - hook.calls
    if invoices != INVOICES or lines != 3 * INVOICES:
        raise SystemExit(f"read {invoices} invoices and {lines} lines, expected {INVOICES} and {3 * INVOICES}")
    rows = [(f"Exact API calls, {INVOICES:,} invoices", float(hook.calls), "<= 300"),
            ("Exact 429s received", float(hook.rate_limited), "0"),
            (f"Exact wall time s (60 calls / {WINDOW:g}s window)", seconds, ""),
            ("Exact token calls", float(hook.token_calls), "")]
    publish("exact_online", rows, {"invoices": invoices, "lines": lines, "calls": hook.calls, "seconds": seconds,
                                   "rate_limited": hook.rate_limited, "unanswered": served_429})
    return 0


if __name__ == "__main__":
    sys.exit(main())
