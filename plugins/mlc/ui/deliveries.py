"""The rows of the deliveries page: each file sent to a trading partner with its acknowledgment state, and each
inbound file taken in (Stampli exports, Sterling messages), from ml-connector's state database.

No web framework here: :mod:`mlc.ui.app` serves these rows; tests read them directly.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlc.formats.partner import Partner, dag_id
from mlc.state.ledgers import InboundLedger
from mlc.state.status import partner_files

#: acknowledgment states a person can filter on, in the order the page offers them
ACK_STATES = ("rejected", "invalid", "overdue", "pending", "accepted with errors", "accepted", "none expected")
#: those that want a person to look
NEEDS_A_PERSON = frozenset({"rejected", "invalid", "overdue"})


@dataclass(frozen=True)
class Filters:
    """What the page was asked to show: one partner, one acknowledgment state, files since a day (ISO)."""

    partner: str | None = None
    status: str | None = None
    since: str | None = None

    def keeps(self, row: dict[str, Any]) -> bool:
        return ((self.partner is None or row["partner"] == self.partner)
                and (self.status is None or row["ack"] == self.status)
                and (self.since is None or row["delivered_at"][:10] >= self.since))


def outbound(partners: list[Partner], filters: Filters, *, dag_ids: Collection[str] | None = None,
             url: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Files sent to each partner (newest first) that the filters keep, each with the DAG that sent it; only
    partners whose DAGs the viewer may read (``dag_ids``; ``None``: all)."""
    rows = []
    for partner in partners:
        if filters.partner not in (None, partner.partner):
            continue
        for row in partner_files(partner, url=url, now=now, partners=partners):
            row["dag_id"] = dag_id(row["integration"], partner.partner)
            if (dag_ids is None or row["dag_id"] in dag_ids) and filters.keeps(row):
                row["needs_a_person"] = row["ack"] in NEEDS_A_PERSON
                rows.append(row)
    return sorted(rows, key=lambda r: (r["delivered_at"], r["file"]), reverse=True)


def inbound(*, dag_ids: Collection[str] | None = None, since: str | None = None, url: str | None = None,
            limit: int = 500) -> list[dict[str, Any]]:
    """Inbound files last seen (newest first): each Stampli export with its rows posted and rejected, each
    Sterling message handed on; with the DAG that took it in where the source says which."""
    rows = []
    for row in InboundLedger(url).recent(limit):
        kind, dag = _taken_in_by(row["source"])
        if dag_ids is not None and dag is not None and dag not in dag_ids:
            continue
        if since is not None and row["updated"][:10] < since:
            continue
        rows.append({**row, "kind": kind, "dag_id": dag,
                     "needs_a_person": row["status"] in ("rejected", "processing") or bool(row.get("rejected"))})
    return rows


def report_of(source: str, sha256: str, *, dag_ids: Collection[str] | None = None, url: str | None = None
              ) -> tuple[str, str] | None:
    """(SFTP connection, path) of the error report an inbound file left, when the viewer may read the DAG that
    took it in (``dag_ids``; ``None``: all); ``None`` when there is none to show them. The path is the one the
    ledger recorded, never one a request names."""
    row = InboundLedger(url).find(source, sha256)
    if row is None or not row.get("report") or not source.startswith("sftp://"):
        return None
    _kind, dag = _taken_in_by(source)
    if dag_ids is not None and dag is not None and dag not in dag_ids:
        return None
    return source.removeprefix("sftp://").split("/", 1)[0], row["report"]


def _taken_in_by(source: str) -> tuple[str, str | None]:
    """What kind of inbound file a ledger source is, and the DAG that reads it when one DAG does."""
    if source.startswith("sterling://"):
        return "Sterling message", None  # any partner's intacct_to_sterling DAG polls its mailboxes
    return "Stampli export", "stampli_to_intacct"
