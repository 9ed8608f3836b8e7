"""Interchange and group control numbers: unique per sender/receiver pair, rising across runs and
restarts, and the same again when the same run is rendered again.

``allocate(key, run_key)`` returns the next number of sequence ``key`` (e.g.
``"ISA|ZZ:SENDER|ZZ:RECEIVER"``) and remembers it under ``run_key`` (dag, run, task, file): asking
again with the same ``run_key`` returns the same number, so a retry or a replay renders the same
bytes. The store here keeps the sequences in a JSON file under an OS lock (one machine: the CLI, the
benchmarks); the DAGs use the SQL store of :mod:`mlc.state.control_numbers`, which every worker shares.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Protocol

MAX_CONTROL = 999_999_999
RUNS_KEPT = 5000


class ControlNumberStore(Protocol):
    def allocate(self, key: str, run_key: str) -> int:
        """Next number of sequence ``key``, or the one already given to ``run_key``."""


def next_number(last: int) -> int:
    """The number after ``last``: 1 again after the nine digits an ISA13 holds."""
    return 1 if last >= MAX_CONTROL else last + 1


class FileControlNumberStore:
    """Sequences in a JSON file, serialised by ``flock`` (safe across processes on one machine)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def allocate(self, key: str, run_key: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text()) if self.path.exists() else {}
            sequence = state.setdefault(key, {"last": 0, "runs": {}})
            if run_key in sequence["runs"]:
                return int(sequence["runs"][run_key])
            number = next_number(int(sequence["last"]))
            sequence["last"] = number
            sequence["runs"][run_key] = number
            if len(sequence["runs"]) > RUNS_KEPT:
                for old in list(sequence["runs"])[: len(sequence["runs"]) - RUNS_KEPT]:
                    del sequence["runs"][old]
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
            return number
