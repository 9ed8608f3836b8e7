"""A mail catcher for `make up`: an SMTP server on loopback (``smtp_default``) that keeps every alert it is sent
as a file, and a page listing them (newest first) for a person to read in a browser.

Nothing leaves the machine. The alerts ml-connector mails (:mod:`mlc.operators.alerts`) land here when the
deployment sets ``MLC_ALERT_TO``, as `mlc up` does.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from pathlib import Path
from typing import Any

from sandbox.http import HttpSandbox, Request, Response
from sandbox.processes import free_port

#: the address `mlc up` sends alerts to
ALERT_ADDRESS = "ap-oncall@sandbox.test"


class MailSandbox(HttpSandbox):
    """SMTP in (``smtp_port``), an inbox page out (``url``); each message kept under ``folder`` as ``.eml``."""

    name = "mail"
    supported_faults = frozenset()

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0, public_host: str | None = None,
                 smtp_port: int = 0) -> None:
        super().__init__(host, port, public_host)
        self.folder = folder
        self.smtp_port = smtp_port
        self._smtp: Any = None

    def _start(self) -> None:
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True)
        self.smtp_port = self.smtp_port or free_port()
        self._smtp = Controller(_Keep(self.folder), hostname=self.host, port=self.smtp_port)
        self._smtp.start()
        super()._start()

    def _stop(self) -> None:
        super()._stop()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def connections(self) -> dict[str, dict[str, Any]]:
        return {"smtp_default": {"conn_type": "smtp", "host": self.public_host, "port": self.smtp_port,
                                 "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 1,
                                           "from_email": "ml-connector@sandbox.test"}}}

    def messages(self) -> list[email.message.EmailMessage]:
        """Every message kept, newest first."""
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(self.folder.glob("*.eml"), reverse=True)]

    def handle(self, request: Request) -> Response:
        if request.path not in ("/", "/index.html"):
            return Response.text("not found", 404)
        rows = []
        for message in self.messages():
            rows.append(f"<article><h2>{html.escape(str(message['Subject']))}</h2>"
                        f"<p><small>{html.escape(str(message['Date'] or ''))} · to {html.escape(str(message['To']))}"
                        f"</small></p><pre>{html.escape(text_of(message))}</pre></article>")
        page = ("<!doctype html><meta charset=utf-8><title>Sandbox inbox</title>"
                "<style>body{font-family:system-ui,sans-serif;margin:1.5rem}article{border-bottom:1px solid #ddd;"
                "padding:.5rem 0}pre{white-space:pre-wrap}</style>"
                f"<h1>Sandbox inbox: alerts to {ALERT_ADDRESS}</h1>"
                + ("".join(rows) or "<p>No alert yet.</p>"))
        return Response.text(page, content_type="text/html; charset=utf-8")


def text_of(message: email.message.EmailMessage) -> str:
    """A message's text: its plain part, else its HTML part's text (tags dropped; shown escaped, never as HTML)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if part.get_content_subtype() == "html" else text


class _Keep:
    """aiosmtpd handler: each message into its own file, named by arrival."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.count += 1
        (self.folder / f"{self.count:06d}.eml").write_bytes(envelope.original_content or envelope.content)
        return "250 OK"
