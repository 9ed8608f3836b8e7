"""Sample source records for every shipped mapping: ``python -m sandbox.samples`` (re)writes them.

Each mapping names its samples (``samples: samples/bills.jsonl``, beside the mapping), so a person
onboarding a partner can run ``mlc render MAPPING SAMPLES`` at once and see the partner's file. The
records are what the extract tasks stage (JSON lines), taken from the sandbox's Intacct and Exact
Online over their real protocols: a few ordinary records and the dirty ones the sandbox is known
for (control characters in a vendor name, a credit memo, a zero-amount line), as the extract cleans
and stages them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sandbox.processes import REPO

MAPPINGS = REPO / "include" / "mappings"
WINDOW = (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 16, tzinfo=timezone.utc))
PER_EXPORT = 4  # ordinary records per file, besides the dirty ones

# flow -> export -> the records' source
SAMPLES = {
    "intacct_to_sftp": ("intacct", ("bills", "vendors", "gl_accounts", "dimensions", "payments")),  # deletes: by hand
    "intacct_to_sterling": ("intacct", ("bills",)),
    "exact_online_to_sftp": ("exact", ("purchase_invoices", "suppliers", "gl_accounts", "gl_account_mappings",
                                       "payments", "cost_centres", "cost_units", "purchase_orders", "gl_transactions",
                                       "deletes")),
}


def _dirty(record: dict[str, Any]) -> bool:
    """A record the sandbox made dirty: a cleaned vendor name, a credit memo, a zero-amount line."""
    text = json.dumps(record)
    lines = ((record.get("APBILLITEMS") or {}).get("APBILLITEM")) or []
    return ("VD00" in text or any(str(line.get("TRX_AMOUNT", "")).lstrip("-") in ("0", "0.00") for line in lines)
            or str(record.get("TOTALENTERED", "")).startswith("-"))


def pick(records: Iterator[dict[str, Any]], per_export: int = PER_EXPORT) -> list[dict[str, Any]]:
    """The first ``per_export`` ordinary records and the first of each kind of dirty one, in source order."""
    ordinary, dirty = [], []
    for record in records:
        if _dirty(record):
            if len(dirty) < 3:
                dirty.append(record)
        elif len(ordinary) < per_export:
            ordinary.append(record)
        if len(ordinary) >= per_export and len(dirty) >= 3:
            break
    return ordinary + dirty


def extracted(source: str, export: str) -> list[dict[str, Any]]:
    """The records the extract task stages for ``export``, from the sandbox ``source`` (its env is set)."""
    if source == "intacct":
        from mlc.operators.intacct_extract import IntacctExtractOperator as Extract
    else:
        from mlc.operators.exact_extract import ExactExtractOperator as Extract
    operator = Extract(task_id=f"sample_{export}", export=export)
    return pick(operator.records(WINDOW[0], WINDOW[1], timedelta(0)))


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in records))


def main() -> int:
    from sandbox.exact import ExactSandbox, ExactSeed
    from sandbox.intacct import IntacctSandbox
    from sandbox.intacct_data import Seed

    with tempfile.TemporaryDirectory() as state, \
            IntacctSandbox(seed=Seed(bills=60, anchor=datetime(2026, 11, 16))) as intacct, \
            ExactSandbox(seed=ExactSeed(invoices=30)) as exact:
        from cryptography.fernet import Fernet

        os.environ["MLC_STATE_URL"] = f"sqlite:///{state}/state.db"
        os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()  # Exact's tokens are kept encrypted
        for conn_id, conn in {**intacct.connections(), **exact.connections()}.items():
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        for flow, (source, exports) in SAMPLES.items():
            for export in exports:
                records = extracted(source, export)
                write(MAPPINGS / flow / "samples" / f"{export}.jsonl", records)
                print(f"{flow}/samples/{export}.jsonl: {len(records)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
