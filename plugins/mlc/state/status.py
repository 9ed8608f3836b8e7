"""What was delivered to each trading partner and how the partner answered, from the delivery ledger and
the acknowledgment state: ``mlc status [PARTNER]``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mlc.formats.partner import Partner, vendor_scope
from mlc.state.ledgers import AckLedger, DeliveryLedger, sftp_destination

SFTP_INTEGRATIONS = ("intacct_to_sftp", "exact_online_to_sftp")


def partner_destinations(partner: Partner, partners: list[Partner] | None = None, url: str | None = None
                         ) -> list[tuple[str, str]]:
    """(integration, ledger destination) of each SFTP folder the partner gets files in, and of each Sterling
    mailbox its profile serves (the vendors it lists, or the vendors no other profile lists: ``partners``)."""
    found = [(name, sftp_destination(part.connections["sftp_conn_id"], part.folders["remote_dir"]))
             for name, part in partner.integrations.items() if name in SFTP_INTEGRATIONS]
    part = partner.integrations.get("intacct_to_sterling")
    if part is not None:
        only, except_ = vendor_scope(part, partners if partners is not None else [partner])
        prefix = f"sterling://{part.connections['sterling_conn_id']}"
        mailbox = re.compile(re.escape(prefix + part.folders["mailbox_template"]).replace(
            re.escape("{partner}"), "(?P<vendor>[^/]+)") + "$")
        for destination in DeliveryLedger(url).destinations(prefix + "/"):
            match = mailbox.match(destination)
            vendor = match and match.groupdict().get("vendor")
            if match and (only is None or vendor in only) and vendor not in except_:
                found.append(("intacct_to_sterling", destination))
    return found


def partner_files(partner: Partner, url: str | None = None, now: datetime | None = None,
                  partners: list[Partner] | None = None) -> list[dict[str, Any]]:
    """Each file sent to the partner, oldest first: where, when, sha256, size, control numbers, ack state."""
    ledger = AckLedger(url)
    files = []
    for integration, destination in partner_destinations(partner, partners, url):
        for row in ledger.delivered(destination, now):
            control = row["control"]
            numbers = " ".join(f"{key.upper()} {control[key]}" for key in ("isa13", "gs06", "unb") if control.get(key))
            sets = control.get("st02_count") or control.get("unh_count") or ""
            files.append({"partner": partner.partner, "integration": integration, "destination": destination,
                          "file": row["remote_path"], "delivered_at": row["delivered_at"], "sha256": row["sha256"],
                          "bytes": row["size"], "control": numbers, "sets": sets, "ack": row["ack"],
                          "due": row["due"], "ack_file": row["ack_file"], "codes": row["codes"], "run": row["run"],
                          "records": control.get("records")})
    return sorted(files, key=lambda f: (f["delivered_at"], f["file"]))
