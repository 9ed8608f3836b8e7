"""Which processes a test left behind: only its own, found by the folder it gave them, so that tests running
beside it on other workers (each with sandboxes and Airflows of their own) never count."""

from __future__ import annotations

import psutil


def processes_of(workdir: str) -> list[str]:
    """Processes started in ``workdir`` or naming it on their command line (``pid cmdline``)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline, cwd = " ".join(proc.info["cmdline"] or []), proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if workdir in cmdline or cwd.startswith(workdir):
            found.append(f"{proc.info['pid']} {cmdline}")
    return found
