"""``mlc partner check PROFILE``: onboard a trading partner without running a DAG.

The profile is checked (a mistake names the file and line); then each document it gets is rendered
through its mapping, with the partner's interchange IDs laid over it, from the sample records the
mapping names, checked by ml-connector's own X12 / EDIFACT checker (the one that writes 997s and
CONTRLs), and printed with where the file would go. Exit 0 when every document renders valid, 1 when
one does not, 2 when the profile itself is wrong.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from mlc.formats.control_numbers import FileControlNumberStore
from mlc.formats.edifact_ack import check_edifact
from mlc.formats.mapping import samples_path
from mlc.formats.partner import Partner, PartnerIntegration, partners_dir
from mlc.formats.render import file_name, render
from mlc.formats.x12_check import check_interchange


def profile_file(arg: str) -> Path:
    """A profile given as a path, or by the partner's id under the partners folder."""
    path = Path(arg)
    return path if path.suffix in (".yaml", ".yml") or path.exists() else partners_dir() / f"{arg}.yaml"


def destination(part: PartnerIntegration) -> str:
    if part.integration == "intacct_to_sterling":
        return f"{part.connections['sterling_conn_id']}:{part.folders['mailbox_template'].rstrip('/')}/"
    return f"{part.connections['sftp_conn_id']}:{part.folders['remote_dir']}/"


def check_document(part: PartnerIntegration, document: str, when: datetime, state: Path) -> tuple[bool, str]:
    """Render one document from its samples and check it; (fine, one line saying what came out and where)."""
    mapping = part.mapping(document)
    samples = samples_path(mapping)
    if samples is None or not samples.is_file():
        return False, f"{part.documents[document]} names no sample records: nothing to try it on"
    records: list[dict[str, Any]] = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    out = io.BytesIO()
    result = render(mapping, records, out, timestamp=when, run_key=f"partner-check|{document}",
                    store=FileControlNumberStore(state / "control-numbers.json"))
    data = out.getvalue()
    control = result.control_numbers.get("isa13") or result.control_numbers.get("unb") or ""
    verdict = "valid"
    if mapping["format"] == "x12" and data:
        verdict = "valid" if check_interchange(data).valid else "INVALID"
    elif mapping["format"] == "edifact" and data:
        verdict = "valid" if check_edifact(data).valid else "INVALID"
    fine = verdict == "valid" and not result.rejected and result.records > 0
    rejected = f", {len(result.rejected)} rejected" if result.rejected else ""
    name = file_name(mapping, timestamp=when, run_id="check", control=control)
    return fine, (f"{part.documents[document]} -> {destination(part)}{name}: {result.records} record(s){rejected}, "
                  f"{len(data):,} bytes, {verdict}")


def check_partner(partner: Partner, say: Any) -> bool:
    """Every document of every integration the partner takes part in; True when all are fine."""
    ok = True
    with tempfile.TemporaryDirectory(prefix="mlc-partner-check-") as state:
        for part in partner.integrations.values():
            switched = "" if partner.takes_part_in(part.integration) else " (switched off)"
            when = f"{part.schedule.cron} {part.schedule.timezone}" if part.schedule else "no schedule"
            say(f"{partner.partner} {part.integration}{switched}: {when}")
            for document in part.documents:
                fine, line = check_document(part, document, datetime.now(), Path(state))
                ok = ok and fine
                say(f"  {document}: {line}")
    return ok


def add_command(sub: argparse._SubParsersAction) -> None:
    partner = sub.add_parser("partner", help="trading partner profiles (include/partners)")
    actions = partner.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="check a profile and render each of its documents from samples")
    check.add_argument("profile", help="a profile file, or a partner id under include/partners")
