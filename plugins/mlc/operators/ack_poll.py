"""Read the partner's acknowledgments (997 / TA1 for X12, CONTRL for EDIFACT) from ``acks/``.

Each ack is matched to the delivered file it answers, among the files delivered to exactly this
folder: by its control numbers (GS06 + functional id for a 997 group, ISA13 for a TA1, the UNB
reference for a CONTRL) and by the parties, which an ack swaps (its ISA06/ISA08 and GS02/GS03 are
the file's receiver and sender). Each gets one AUDIT line per acknowledged set or interchange
(accepted, accepted with errors, rejected, with the error codes), its answer is kept in the
acknowledgment ledger, and it is moved to ``acks/processed/`` (a name taken there gets the ack's
short hash added).

When a partner rejected something, or an ack cannot be read or holds codes outside the X12 code
lists, the task fails after every ack was read, naming the file, the control number and the codes:
a rejected invoice is not paid, and someone must act. An ack that matches nothing delivered here,
and a delivered file whose acknowledgment is overdue (``ack_expected_within_hours`` in its mapping),
are alerted once each while the task succeeds: nothing is wrong with the run, but a person must look.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from mlc.formats.acknowledge import standard_of
from mlc.formats.edifact_ack import read_contrl
from mlc.formats.errors import FormatError, ParseError
from mlc.formats.x12_ack import read_acks
from mlc.hooks.sftp import MlcSFTPHook, remote_folder
from mlc.operators.alerts import AckRejected, push_alerts
from mlc.operators.attention import declare as declare_attention
from mlc.operators.audit import audit
from mlc.operators.checks import is_plain_file_name, truthy
from mlc.state.ledgers import AckLedger, DeliveryLedger, sftp_destination

X12_ACCEPTS = {"A", "E"}
X12_REJECTS = {"R", "M", "W", "X", "P"}  # P: some sets of the group were rejected
EDIFACT_ACCEPTS = {"1", "2", "5", "7", "8"}  # 2: acknowledged, errors noted (like X12's E)
EDIFACT_REJECTS = {"3", "4", "6"}
ERRORS_NOTED = {"E", "2"}  # accepted, errors noted: the file went through, and the partner says what was wrong


def _same_number(ours: Any, theirs: Any) -> bool:
    return str(ours or "").lstrip("0") == str(theirs or "").lstrip("0")


def _match(delivered: list[dict[str, Any]], numbers: dict[str, str], parties: dict[str, str | None]
           ) -> dict[str, Any] | None:
    """The delivery whose control numbers are ``numbers`` and whose parties are ``parties``; a party the
    ledger row does not name (a file delivered before parties were kept), or the ack does not, is not compared."""
    for row in delivered:
        control = row.get("control") or {}
        if not all(k in control and _same_number(control[k], v) for k, v in numbers.items()):
            continue
        if all(v is None or k not in control or str(control[k]).strip() == str(v).strip() for k, v in parties.items()):
            return row
    return None


def acknowledged(report: dict[str, Any], delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per acknowledged set (997), interchange (TA1, CONTRL UCI) or message (CONTRL UCM)."""
    entries: list[dict[str, Any]] = []
    if report["standard"] == "X12":
        # The ack comes from the file's receiver and goes to its sender.
        isa_parties = {"receiver": report["sender"], "sender": report["receiver"]}
        for ta1 in report["interchange_acks"]:
            row = _match(delivered, {"isa13": ta1["control_number"]}, isa_parties)
            entries.append({"level": "interchange", "control_number": ta1["control_number"], "row": row,
                            "status": ta1["status"], "errors": [ta1["note_code"]] if ta1["note_code"] != "000" else []})
        for group in report["group_acks"]:
            parties = {**isa_parties, "gs03": group.get("sender_group"), "gs02": group.get("receiver_group")}
            row = _match(delivered, {"gs06": group["control_number"], "functional_id": group["functional_id"]}, parties)
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
            row = _match(delivered, {"unb": uci["control_number"]},
                         {"sender": uci.get("sender") or None, "recipient": uci.get("recipient") or None})
            errors = [uci["error"]["code"]] if uci.get("error") else []
            entries.append({"level": "interchange", "control_number": uci["control_number"], "row": row,
                            "status": uci["action"], "errors": errors})
            for message in uci["messages"]:
                entries.append({"level": "message", "control_number": message["reference"], "row": row,
                                "status": message["action"],
                                "errors": [message["error"]["code"]] if message.get("error") else []})
    return entries


def outcome(standard: str, status: str) -> str:
    """accepted, rejected, or invalid (a status outside the code list: nothing a person may rely on)."""
    accepts, rejects = (X12_ACCEPTS, X12_REJECTS) if standard == "X12" else (EDIFACT_ACCEPTS, EDIFACT_REJECTS)
    return "accepted" if status in accepts else "rejected" if status in rejects else "invalid"


MAX_ACK_BYTES = 16 * 1024 * 1024  # an acknowledgment this large is not one


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
        declare_attention(self)  # work it leaves for a person shows under Required Actions
        self.sftp_conn_id, self.remote_dir, self.acks_dir, self.enabled = sftp_conn_id, remote_dir, acks_dir, enabled

    def execute(self, context: Context) -> dict[str, Any]:
        if not truthy(self.enabled):
            raise AirflowSkipException("reading acks is switched off for this run")
        destination = sftp_destination(self.sftp_conn_id, self.remote_dir)
        acks_dir = remote_folder(self.acks_dir)
        delivered = DeliveryLedger().at(destination)
        answers = AckLedger()
        processed_dir = posixpath.join(acks_dir, "processed")
        failures: list[str] = []
        unmatched: list[dict[str, str]] = []
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
                    audit("ack_refused", context, logger=self.log, ack_file=ascii(name), reason="not a plain file name")
                    failures.append(f"{ascii(name)}: not a plain file name")
                    continue
                path = posixpath.join(acks_dir, name)
                with sftp.open(path, "rb") as handle:
                    data = handle.read(MAX_ACK_BYTES + 1)
                try:
                    if len(data) > MAX_ACK_BYTES:
                        raise ParseError(f"larger than {MAX_ACK_BYTES // (1024 * 1024)} MiB: not an acknowledgment")
                    report = read_acks(data) if standard_of(data) == "x12" else read_contrl(data)
                except (FormatError, IndexError, ValueError) as exc:
                    audit("ack_unreadable", context, logger=self.log, ack_file=name, error=str(exc))
                    failures.append(f"{name}: {exc}")
                    continue
                if report.get("problems"):
                    audit("ack_invalid", context, logger=self.log, ack_file=name, problems=report["problems"])
                    failures.append(f"{name}: invalid acknowledgment: {'; '.join(report['problems'][:5])}")
                for entry in acknowledged(report, delivered):
                    failure, alert = self._take(context, name, report["standard"], entry, destination, answers)
                    failures += [failure] if failure else []
                    unmatched += [alert] if alert else []
                hook.move_aside(path, processed_dir, hashlib.sha256(data).hexdigest())
                read += 1
        late = self._overdue(context, destination, answers)
        alerts = [{"what": a["what"], "do": a["do"]} for a in unmatched + late]
        # The overdue files are marked alerted only now that the alert is on its way (a failure mail names them too).
        answers.alerted_all(destination, [a["sha256"] for a in late])
        if failures:
            raise AckRejected("Partner acknowledgments need attention: " + "; ".join(failures + [a["what"] for a in alerts]))
        push_alerts(context, alerts)
        return {"acks": read, "destination": destination, "unmatched": len(unmatched), "overdue": len(late)}

    def _take(self, context: Context, name: str, standard: str, entry: dict[str, Any], destination: str,
              answers: AckLedger) -> tuple[str | None, dict[str, str] | None]:
        """Audit one acknowledged set or interchange and keep its answer; return (failure, alert)."""
        row = entry.pop("row")
        verdict = outcome(standard, entry["status"])
        audit("ack_received", context, logger=self.log, ack_file=name, standard=standard,
              file=row["remote_path"] if row else None, sha256=row["sha256"] if row else None,
              matched=row is not None, outcome=verdict, **entry)
        if row is None:
            return None, {"what": f"acknowledgment {name} ({entry['level']} {entry['control_number']}) matches nothing "
                                  f"delivered to {destination}",
                          "do": "Check which partner sent it and to which of our files it belongs (control number and "
                                "parties in the task log); it is filed in acks/processed/."}
        codes = f"{entry['level']} {entry['control_number']}: {', '.join(entry['errors'])}" if entry["errors"] else None
        noted = verdict == "accepted" and (codes is not None or entry["status"] in ERRORS_NOTED)
        answers.answered(destination, row["sha256"], "accepted with errors" if noted else verdict, name, codes)
        if verdict == "accepted":
            return None, None
        return (f"{name}: {entry['level']} {entry['control_number']} of {row['remote_path']} {verdict} "
                f"(status {entry['status'] or 'none'}, codes {', '.join(entry['errors']) or 'none'})"), None

    def _overdue(self, context: Context, destination: str, answers: AckLedger) -> list[dict[str, str]]:
        """One alert per delivered file whose acknowledgment is later than its mapping allows (each file once:
        the caller marks them alerted)."""
        alerts = []
        for row in answers.overdue(destination):
            audit("ack_overdue", context, logger=self.log, file=row["remote_path"], sha256=row["sha256"],
                  delivered_at=row["delivered_at"], due=row["due"], control=row["control"])
            alerts.append({"what": f"acknowledgment overdue for {row['remote_path']} (delivered {row['delivered_at']}, "
                                   f"due by {row['due']})",
                           "do": "Ask the partner whether the file arrived; if not, send it again with the `force` "
                                 "Param for its window.", "sha256": row["sha256"]})
        return alerts
