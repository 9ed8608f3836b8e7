"""Read the partner's acknowledgments (997 / TA1 for X12, CONTRL for EDIFACT) from ``acks/``.

Each ack is matched to the delivered file it answers through the control numbers the delivery
ledger kept (GS06 + functional id for a 997 group, ISA13 for a TA1, the UNB reference for a
CONTRL), gets one AUDIT line per acknowledged set or interchange (accepted, accepted with
errors, rejected, with the error codes), and is moved to ``acks/processed/`` (a name taken there
gets the ack's short hash added). When a partner
rejected something, the task fails after every ack was read, naming the file, the control
number and the codes: a rejected invoice is not paid, and someone must act.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk import BaseOperator, Context

from mlc.formats.edifact_ack import read_contrl
from mlc.formats.errors import ParseError
from mlc.formats.x12_ack import read_acks
from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.operators.alerts import AckRejected
from mlc.operators.audit import audit
from mlc.operators.checks import is_plain_file_name, truthy
from mlc.state.ledgers import DeliveryLedger, sftp_destination

X12_REJECTS = {"R", "M", "W", "X", "P"}  # P: some sets of the group were rejected
EDIFACT_REJECTS = {"4"}


def _match(delivered: list[dict[str, Any]], **wanted: str) -> dict[str, Any] | None:
    for row in delivered:
        control = row.get("control") or {}
        if all(str(control.get(k, "")).lstrip("0") == str(v).lstrip("0") for k, v in wanted.items()):
            return row
    return None


def acknowledged(report: dict[str, Any], delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per acknowledged set (997), interchange (TA1, CONTRL UCI) or message (CONTRL UCM)."""
    entries: list[dict[str, Any]] = []
    if report["standard"] == "X12":
        for ta1 in report["interchange_acks"]:
            row = _match(delivered, isa13=ta1["control_number"])
            entries.append({"level": "interchange", "control_number": ta1["control_number"], "row": row,
                            "status": ta1["status"], "errors": [ta1["note_code"]] if ta1["note_code"] != "000" else []})
        for group in report["group_acks"]:
            row = _match(delivered, gs06=group["control_number"], functional_id=group["functional_id"])
            for ack_set in group["sets"] or [None]:
                status = (ack_set or group)["status"]
                errors = [e["code"] for e in (ack_set or {}).get("errors", [])] + [
                    f"{s['segment']}@{s['position']}:{s['code']}" for s in (ack_set or {}).get("segment_errors", [])]
                entries.append({"level": "set" if ack_set else "group", "row": row,
                                "control_number": ack_set["control_number"] if ack_set else group["control_number"],
                                "group_control_number": group["control_number"], "status": status,
                                "group_status": group["status"], "errors": errors + [e["code"] for e in group["errors"]]})
    else:
        for uci in report["interchange_acks"]:
            row = _match(delivered, unb=uci["control_number"])
            errors = [uci["error"]["code"]] if uci.get("error") else []
            entries.append({"level": "interchange", "control_number": uci["control_number"], "row": row,
                            "status": uci["action"], "errors": errors})
            for message in uci["messages"]:
                entries.append({"level": "message", "control_number": message["reference"], "row": row,
                                "status": message["action"],
                                "errors": [message["error"]["code"]] if message.get("error") else []})
    return entries


class AckPollOperator(BaseOperator):
    """Read, match, audit and file away the acks in ``acks_dir``; fail when a partner rejected a file.

    :param remote_dir: the folder files were delivered to (the ledger's destination). (templated)
    :param acks_dir: where the partner drops acknowledgments. (templated)
    :param enabled: run at all (a Param). (templated)
    """

    template_fields: Sequence[str] = ("sftp_conn_id", "remote_dir", "acks_dir", "enabled")
    ui_color = "#f3e8fd"

    def __init__(self, *, sftp_conn_id: str = "sftp_default", remote_dir: str = "outbound", acks_dir: str = "acks",
                 enabled: Any = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id, self.remote_dir, self.acks_dir, self.enabled = sftp_conn_id, remote_dir, acks_dir, enabled

    def execute(self, context: Context) -> dict[str, Any]:
        if not truthy(self.enabled):
            raise AirflowSkipException("reading acks is switched off for this run")
        destination = sftp_destination(self.sftp_conn_id, self.remote_dir)
        acks_dir = remote_folder(self.acks_dir)
        delivered = [row for row in DeliveryLedger().by_control(destination) if not row["sha256"].startswith("content:")]
        processed_dir = posixpath.join(acks_dir, "processed")
        rejected: list[str] = []
        unreadable: list[str] = []
        read = 0
        hook = MlcSFTPHook(ssh_conn_id=self.sftp_conn_id)
        with hook.get_managed_conn() as sftp:
            try:
                listing = sftp.listdir_attr(acks_dir)
            except FileNotFoundError:
                listing = []
            names = sorted(a.filename for a in listing if a.filename != "processed" and not a.filename.startswith(".")
                           and not (a.st_mode or 0) & 0o040000)
            for name in names:
                if not is_plain_file_name(name):
                    audit("ack_refused", context, logger=self.log, ack_file=name, reason="not a plain file name")
                    unreadable.append(name)
                    continue
                path = posixpath.join(acks_dir, name)
                with sftp.open(path, "rb") as handle:
                    data = handle.read(16 * 1024 * 1024)
                try:
                    text = data.lstrip(b"\xef\xbb\xbf\r\n ")
                    report = read_acks(data) if text.startswith(b"ISA") else read_contrl(data)
                except (ParseError, IndexError, ValueError) as exc:
                    audit("ack_unreadable", context, logger=self.log, ack_file=name, error=str(exc))
                    unreadable.append(f"{name}: {exc}")
                    continue
                for entry in acknowledged(report, delivered):
                    row = entry.pop("row")
                    status = entry["status"]
                    is_reject = status in (X12_REJECTS if report["standard"] == "X12" else EDIFACT_REJECTS)
                    audit("ack_received", context, logger=self.log, ack_file=name, standard=report["standard"],
                          file=row["remote_path"] if row else None, sha256=row["sha256"] if row else None,
                          matched=row is not None, outcome="rejected" if is_reject else "accepted", **entry)
                    if is_reject:
                        rejected.append(f"{name}: {entry['level']} {entry['control_number']} of "
                                        f"{row['remote_path'] if row else 'an unknown file'} rejected "
                                        f"(status {status}, codes {', '.join(entry['errors']) or 'none'})")
                hook.move_aside(path, processed_dir, hashlib.sha256(data).hexdigest())
                read += 1
        if rejected or unreadable:
            raise AckRejected("Partner acknowledgments need attention: " + "; ".join(rejected + unreadable))
        return {"acks": read, "destination": destination}
