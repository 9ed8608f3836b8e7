"""mlc — ml-connector's command line (the ``mlc`` console script; ``bin/mlc`` from a clone).

  mlc demo      run every DAG once through a real Airflow scheduler against the sandbox
                (--executor celery: on CeleryExecutor with the local PostgreSQL and Redis)
  mlc up        the sandbox plus `airflow standalone` for a person at http://127.0.0.1:8080
  mlc sandbox   the sandbox servers alone, in the foreground (prints the AIRFLOW_CONN_* variables)
  mlc exact-auth --redirect-uri URI   the one-time Exact Online consent: prints the URL to open,
                reads back the redirect, stores the first token pair (encrypted) for the DAGs

  mlc render MAPPING [RECORDS.jsonl] [-o FILE]  render records (default: the mapping's samples)
  mlc validate FILE     readable report of an X12 or EDIFACT file; exit 1 when invalid
  mlc ack FILE          the 997 (X12) or CONTRL (EDIFACT) for a received file, on stdout
  mlc read-ack FILE     a received 997 / TA1 / CONTRL as JSON; exit 1 on codes off the code lists
  mlc inspect FILE      segments as an indented tree with element positions
  mlc partner check PROFILE   check a trading partner profile; render each of its documents from samples
  mlc status [PARTNER]  each file sent to each partner (or one): where, when, sha256, control numbers, ack

The sandbox commands (demo, up, sandbox) need a clone of the repository: they run its sandbox/ and dags/.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

#: The clone this package was installed from (editable install or ``bin/mlc``), when there is one.
REPO = Path(__file__).resolve().parents[2]
WORKDIR = (REPO if (REPO / "sandbox").is_dir() else Path.cwd()) / ".mlc"


def _need_clone() -> None:
    """The sandbox package lives beside plugins/ in a clone, not in the installed package."""
    if not (REPO / "sandbox" / "__init__.py").is_file():
        raise SystemExit("mlc: demo, up and sandbox run the repository's sandbox/: call them from a clone")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run every DAG once against the sandbox and print a summary")
    demo.add_argument("--workdir", type=Path, default=WORKDIR / "demo")
    demo.add_argument("--timeout", type=float, default=900, help="seconds to wait for the runs")
    demo.add_argument("--retry-delay", type=float, default=10,
                      help="seconds a failed task waits before its retry, at most (0: the DAGs' own delays)")
    demo.add_argument("--executor", choices=("standalone", "celery"), default="standalone",
                      help="celery: scheduler, dag-processor, api-server and two Celery workers on the local "
                           "PostgreSQL and Redis")
    up = sub.add_parser("up", help="start the sandbox and airflow standalone; Ctrl-C stops both")
    up.add_argument("--workdir", type=Path, default=WORKDIR / "up")
    up.add_argument("--port", type=int, default=8080, help="port of the Airflow UI and API")
    box = sub.add_parser("sandbox", help="run the sandbox servers in the foreground")
    box.add_argument("--workdir", type=Path, default=WORKDIR / "sandbox")
    status_p = sub.add_parser("status", help="each file sent to each partner and its acknowledgment state")
    status_p.add_argument("partner", nargs="?", help="one partner's id (default: every profile)")
    auth = sub.add_parser("exact-auth", help="consent to Exact Online once and store the first token pair")
    auth.add_argument("--conn-id", default="exact_online_default", help="the Exact Online connection")
    auth.add_argument("--redirect-uri", required=True, help="the redirect URI registered for the app")
    auth.add_argument("--code", help="the code (or whole redirect URL) if you already have it")
    from mlc.formats import cli as formats_cli

    formats_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command in formats_cli.COMMANDS:
        if getattr(args, "control_file", "absent") is None and os.environ.get("MLC_STATE_URL"):
            from mlc.state.control_numbers import SqlControlNumberStore

            args.store = SqlControlNumberStore()  # the DAGs' own numbers: a file from the CLI never repeats one
        return formats_cli.run(args)

    if args.command == "exact-auth":
        return exact_auth(args)
    if args.command == "status":
        return status(args)
    if args.command in ("demo", "up", "sandbox"):
        _need_clone()
    if args.command == "demo":
        import shutil

        from sandbox.demo import run_demo

        shutil.rmtree(args.workdir, ignore_errors=True)  # a demo always starts from nothing
        args.workdir.mkdir(parents=True)
        from datetime import timedelta

        return run_demo(args.workdir.resolve(), timeout=args.timeout, executor=args.executor,
                        retry_delay=timedelta(seconds=args.retry_delay) if args.retry_delay > 0 else None)
    if args.command == "up":
        from sandbox.demo import run_up

        args.workdir.mkdir(parents=True, exist_ok=True)
        return run_up(args.workdir.resolve(), api_port=args.port)
    from sandbox.serve import main as serve

    args.workdir.mkdir(parents=True, exist_ok=True)
    state = args.workdir / "sandbox-state.json"
    print(f"state (connections, control URL) -> {state}", flush=True)
    return serve(["--workdir", str(args.workdir), "--state", str(state)])


def status(args: argparse.Namespace) -> int:
    """One line per file sent to a partner, oldest first, with its acknowledgment state (reads MLC_STATE_URL)."""
    from mlc.formats.cli import say
    from mlc.formats.partner import load_profiles
    from mlc.state.status import partner_files

    everyone, broken = load_profiles()
    for stem, error in broken.items():  # the others are still shown
        print(f"mlc status: profile {stem}.yaml does not load, left out: {error}", file=sys.stderr)
    partners = [p for p in everyone if args.partner in (None, p.partner)]
    if not partners:
        print(f"mlc status: no partner profile {args.partner!r}", file=sys.stderr)
        return 2
    for partner in partners:
        files = partner_files(partner, partners=everyone)
        say(f"{partner.partner} ({partner.name}): {len(files)} file(s) sent"
            + ("" if partner.enabled else " (switched off)"))
        for f in files:
            ack = f["ack"] + (f" by {f['due']}" if f["ack"] in ("pending", "overdue") else "") + (
                f" (codes {f['codes']})" if f.get("codes") else "")
            sets = f" {f['sets']} set(s)" if f["sets"] else ""
            say(f"  {f['delivered_at']}  {f['destination']}/{f['file'].rsplit('/', 1)[-1]}  {f['bytes']:,} bytes"
                f"{sets}  {f['control'] or '-'}  sha256 {f['sha256'][:12]}  ack: {ack}")
    return 0


def exact_auth(args: argparse.Namespace) -> int:
    """Print the authorize URL, read the redirect (or --code), exchange it, store the pair."""
    from mlc.hooks.exact_consent import authorize_url, code_from
    from mlc.hooks.exact_online import ExactError, ExactOnlineHook

    hook = ExactOnlineHook(args.conn_id)
    state = None
    answer = args.code
    if not answer:
        url, state = authorize_url(hook, args.redirect_uri)
        print("Open this URL, sign in to Exact Online, choose the division(s) and allow access:\n")
        print(f"  {url}\n")
        print("Then paste the whole URL your browser was sent to (it holds ?code=...; the code is valid "
              "3 minutes):", flush=True)
        answer = sys.stdin.readline()
    try:
        pair = hook.exchange_code(code_from(answer, state), args.redirect_uri)
    except (ValueError, ExactError) as exc:
        print(f"mlc exact-auth: {exc}", file=sys.stderr)
        return 1
    minutes = (pair["expires_at"] - time.time()) / 60
    print(f"Stored the Exact Online tokens for {hook.settings['base']} (client {hook.settings['client_id']}), "
          f"encrypted in ml-connector's state database; the access token is valid {minutes:.0f} more minutes and "
          "the DAGs refresh it from here on.")
    return 0

