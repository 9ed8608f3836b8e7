"""What every benchmark shares: one table on stdout per benchmark, one section of ``bench/results.json``,
and the environment of a child process that runs a DAG with ``dag.test()`` in a scratch AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.json"


def publish(section: str, rows: Sequence[Sequence[Any]], raw: Any, results: Path = RESULTS) -> None:
    """Print ``rows`` (figure, value, goal[, ratio to a baseline]) and store them under ``section``."""
    width = max(34, *(len(str(row[0])) + 2 for row in rows))
    print(f"{'figure':<{width}}{'value':>16}  goal")
    for name, value, goal, *_ in rows:
        print(f"{name:<{width}}{value:>16,.1f}  {goal}")
    existing = json.loads(results.read_text()) if results.exists() else {}
    existing[section] = {"raw": raw, "figures": {
        str(row[0]).strip(): {"value": row[1], "goal": row[2], **({"ratio": row[3]} if len(row) > 3 and row[3]
                                                                  is not None else {})} for row in rows}}
    results.write_text(json.dumps(existing, indent=2))


def report(results: Path = RESULTS) -> str:
    """One table of every benchmark's figures: section, figure, value, goal, ratio to its baseline."""
    data = json.loads(results.read_text()) if results.exists() else {}
    lines = [("benchmark", "figure", "value", "goal", "x baseline")]
    for section, body in data.items():
        for name, figure in body.get("figures", {}).items():
            ratio = figure.get("ratio")
            lines.append((section, name, f"{figure['value']:,.1f}", str(figure.get("goal") or ""),
                          f"{ratio:.1f}x" if isinstance(ratio, (int, float)) else ""))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d:<{widths[3]}}  {e}".rstrip()
                     for a, b, c, d, e in lines)


if __name__ == "__main__":
    print(report())


def airflow_child_env(work: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that runs DAGs: its own AIRFLOW_HOME, SQLite metadata, state and staging."""
    home = work / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(extra or {})
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "MLC_STAGING_URL": f"file://{work / 'staging'}", "MLC_STATE_URL": f"sqlite:///{work / 'state.db'}"})
    return env
