"""Every shipped mapping renders its samples (the sandbox's records, dirty ones included) into exactly the bytes it
rendered before the renderer was made faster (issue 21): a speed-up may change how, never what, is written.
The goldens are sha256s in tests/edi/golden_render.json; regenerate them only for a change of output made on
purpose (``python -m tests.test_render_golden``), and say why in the commit."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from mlc.formats.control_numbers import FileControlNumberStore
from mlc.formats.mapping import load_mapping, samples_path
from mlc.formats.render import render

REPO = Path(__file__).resolve().parent.parent
MAPPINGS = REPO / "include" / "mappings"
GOLDEN = Path(__file__).resolve().parent / "edi" / "golden_render.json"


def shipped() -> list[str]:
    return sorted(str(p.relative_to(MAPPINGS)) for p in MAPPINGS.rglob("*.yaml")
                  if not p.name.endswith("_feed.yaml") and load_mapping(p).get("samples"))


def rendered(name: str, state: Path) -> str:
    mapping = load_mapping(MAPPINGS / name)
    records = [json.loads(line) for line in samples_path(mapping).read_text().splitlines() if line.strip()]
    out = io.BytesIO()
    result = render(mapping, records, out, timestamp=datetime(2026, 11, 21, 6, 30), run_key="golden",
                    store=FileControlNumberStore(state))
    return f"{hashlib.sha256(out.getvalue()).hexdigest()} {result.records} {len(result.rejected)}"


@pytest.mark.parametrize("name", shipped())
def test_a_shipped_mapping_renders_its_samples_into_the_same_bytes_as_before(name, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    assert name in golden, f"{name} has no golden: run python -m tests.test_render_golden and commit it"
    assert rendered(name, tmp_path / "cn.json") == golden[name]


if __name__ == "__main__":  # regenerate the goldens
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        goldens = {name: rendered(name, Path(folder) / f"{i}.json") for i, name in enumerate(shipped())}
    GOLDEN.write_text(json.dumps(goldens, indent=1, sort_keys=True) + "\n")
    print(f"{len(goldens)} goldens written to {GOLDEN}", file=sys.stderr)
