"""The sandbox as a whole: which servers play which system, and the connections that reach them.

Emulators (Intacct, Stampli's export folder, Exact Online, Sterling B2Bi) are added to :func:`build_servers`; the demo,
``make up`` and the tests all start the sandbox through it, so a new server appears everywhere.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sandbox import stampli
from sandbox.base import SandboxServer
from sandbox.exact import ExactSandbox
from sandbox.exact_data import ExactSeed
from sandbox.intacct import SECOND_COMPANY_ID, IntacctSandbox
from sandbox.intacct_data import IntacctStore, Seed
from sandbox.mail import MailSandbox
from sandbox.sftp import CLIENT_KEY, SftpSandbox, SftpUser
from sandbox.snowflake import SnowflakeSandbox
from sandbox.snowflake_sqlapi import SnowflakeSqlApiSandbox
from sandbox.sterling import SterlingSandbox

# Sandbox-only credential (the sandbox runs on loopback; real connections never use it).
STAMPLI_PASSWORD = "stampli-sandbox-password"  # noqa: S105 - sandbox fixture


def build_sftp(root: Path, **where: Any) -> SftpSandbox:
    """The SFTP server: ``partner`` logs in by key (sftp_default), ``stampli`` by password."""
    client_pub = Path(f"{CLIENT_KEY}.pub").read_text()
    return SftpSandbox(
        root,
        **where,
        users={"partner": SftpUser(authorized_keys=client_pub), "stampli": SftpUser(password=STAMPLI_PASSWORD)},
        conn_users={
            "sftp_default": {"user": "partner", "key_file": str(CLIENT_KEY)},
            "stampli_sftp": {"user": "stampli"},
        },
    )


def build_intacct(root: Path, **where: Any) -> IntacctSandbox:
    """The Intacct gateway: a company of ``MLC_SANDBOX_INTACCT_BILLS`` bills (default 200) spread over
    the 30 days before today, so the DAGs' default windows find data; kept in ``root/intacct.db``."""
    root.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    store = IntacctStore(str(root / "intacct.db"))
    bills = int(os.environ.get("MLC_SANDBOX_INTACCT_BILLS", "200"))
    gateway = IntacctSandbox(store=store, seed=None if store.count("APBILL") else Seed(bills=bills, anchor=today),
                             **where)
    # A second company on the same gateway (a customer with two entities): its own, smaller, differently drawn data.
    west = IntacctStore(str(root / "intacct_west.db"))
    if not west.count("APBILL"):
        west.seed(Seed(bills=max(20, bills // 2), seed=11, anchor=today))
    gateway.add_company(SECOND_COMPANY_ID, west)
    return gateway


def build_servers(
    workdir: Path, host: str = "127.0.0.1", public_host: str | None = None, ports: dict[str, int] | None = None
) -> list[SandboxServer]:
    """Every sandbox server, not yet started, keeping its state under ``workdir``.

    ``ports`` fixes a server's port by name (``sftp``, ``snowflake``, ``snowflake_sqlapi``, ``intacct``, ``exact``, ``sterling``); the others take a free one.
    """
    ports = ports or {}

    def where(name: str) -> dict[str, Any]:
        return {"host": host, "public_host": public_host, "port": ports.get(name, 0)}

    sftp, intacct = build_sftp(workdir / "sftp", **where("sftp")), build_intacct(workdir / "intacct", **where("intacct"))
    seed_stampli_exports(sftp.home("stampli"), intacct.store)
    exact = ExactSandbox(seed=ExactSeed(invoices=int(os.environ.get("MLC_SANDBOX_EXACT_INVOICES", "120")),
                                        anchor=datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)),
                         **where("exact"))
    snowflake = SnowflakeSandbox(**where("snowflake"))
    sql_api = SnowflakeSqlApiSandbox(snowflake, **where("snowflake_sqlapi"))  # named in snowflake_default (sql_api_url)
    mail = MailSandbox(workdir / "mail", **where("mail"))  # smtp_default: where alerts land (make up reads them)
    return [sftp, snowflake, sql_api, intacct, exact, SterlingSandbox(**where("sterling")), mail]


def seed_stampli_exports(home: Path, store: IntacctStore) -> None:
    """Stampli's export folder, once: an invoice file (good rows and one invoice per defect) and a
    payment file paying every other good invoice."""
    if (home / "outbound").exists():
        return
    today = datetime.now(timezone.utc).date()
    invoices = stampli.invoice_export(store, int(os.environ.get("MLC_SANDBOX_STAMPLI_INVOICES", "20")), day=today,
                                      defects=stampli.DEFECTS)
    stampli.drop(home, invoices, "invoices")
    stampli.drop(home, stampli.payment_export(invoices.invoices, day=today), "payments")
