"""The deliveries page: a FastAPI app the Airflow api-server mounts at ``/mlc`` (``plugins/mlc_ui_plugin.py``).

``GET /mlc/deliveries`` is the page (in the UI's navigation, under Browse), ``GET /mlc/api/deliveries`` the same
rows as JSON. Read-only. A viewer is who Airflow says they are (its own token, the UI's cookie); they see the
partners whose DAGs Airflow lets them read, nothing else. Without a login, the page sends them to Airflow's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from typing import Any

import jinja2
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from mlc.formats.partner import load_profiles
from mlc.ui.deliveries import ACK_STATES, Filters, inbound, outbound, report_of

app = FastAPI(title="ml-connector deliveries", docs_url=None, redoc_url=None, openapi_url=None)
_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def run_label(run_id: str) -> str:
    """A run id as a person scans it: ``manual__2026-12-06T01:06:09.66+00:00`` -> ``manual 2026-12-06 01:06``."""
    kind, _, moment = str(run_id).partition("__")
    return f"{kind} {moment[:16].replace('T', ' ')}" if moment[:4].isdigit() else str(run_id)


_TEMPLATES.filters["run_label"] = run_label


class LoginNeeded(Exception):
    """No valid Airflow login on the request."""


async def viewer(request: Request) -> Any:
    """The Airflow user behind the request (bearer token or the UI's cookie), as Airflow's own API resolves it."""
    from airflow.api_fastapi.core_api.security import get_user

    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    credentials = None
    if scheme.lower() == "bearer" and token:
        from fastapi.security import HTTPAuthorizationCredentials

        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    try:
        return await get_user(request, None, credentials)
    except HTTPException as exc:
        if exc.status_code in (401, 403):
            raise LoginNeeded() from None
        raise


@app.exception_handler(LoginNeeded)
async def _to_login(request: Request, _exc: LoginNeeded) -> Any:
    if request.url.path.rstrip("/").endswith("/api/deliveries"):
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": "Not authenticated: log in to Airflow"}, status_code=401)
    from airflow.api_fastapi.app import get_auth_manager

    login = get_auth_manager().get_url_login(next_url=str(request.url))
    absolute = login.startswith(("http://", "https://"))
    return RedirectResponse(login if absolute else f"{_root(request)}{login.lstrip('/')}", status_code=303)


def _root(request: Request) -> str:
    """The api-server's root URL, ending in ``/``: this app's base URL without its own mount point."""
    base = str(request.base_url)  # .../mlc/
    return base[: -len(MOUNT)] if base.endswith(MOUNT) else base


#: where plugins/mlc_ui_plugin.py mounts this app, as the end of its base URL
MOUNT = "mlc/"


def readable_dags(user: Any) -> set[str] | None:
    """The DAG ids Airflow lets ``user`` read; ``None`` when it lets them read every DAG's runs (then files sent by
    a partner DAG that no longer exists show too)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    manager = get_auth_manager()
    if manager.is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN, user=user):
        return None
    return set(manager.get_authorized_dag_ids(user=user, method="GET"))


def _filters(partner: str | None, status: str | None, since: str | None) -> Filters:
    if status and status not in ACK_STATES:
        raise HTTPException(422, f"status must be one of {', '.join(ACK_STATES)}, not {status!r}")
    if since and not _DAY.match(since):
        raise HTTPException(422, f"since must be a day as YYYY-MM-DD, not {since!r}")
    return Filters(partner=partner or None, status=status or None, since=since or None)


def _rows(filters: Filters, user: Any) -> dict[str, Any]:
    dag_ids = readable_dags(user)
    partners, _broken = load_profiles()  # one that does not load is left out here: its DAG's stand-in says why
    return {"partners": sorted(p.partner for p in partners), "states": list(ACK_STATES),
            "outbound": outbound(partners, filters, dag_ids=dag_ids),
            "inbound": inbound(dag_ids=dag_ids, since=filters.since)}


@app.get("/api/deliveries")
async def deliveries_json(partner: str | None = Query(None), status: str | None = Query(None),
                          since: str | None = Query(None), user: Any = Depends(viewer)) -> dict[str, Any]:
    """The page's rows as JSON."""
    filters = _filters(partner, status, since)
    return await asyncio.to_thread(_rows, filters, user)


@app.get("/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, partner: str | None = Query(None), status: str | None = Query(None),
                          since: str | None = Query(None), user: Any = Depends(viewer)) -> HTMLResponse:
    """Files sent to each partner with their acknowledgments, and inbound files, filtered by partner, state, day."""
    filters = _filters(partner, status, since)
    data = await asyncio.to_thread(_rows, filters, user)
    html = _TEMPLATES.get_template("deliveries.html").render(root=_root(request), filters=filters, **data)
    return HTMLResponse(html)


@app.get("/inbound/report")
async def inbound_report(source: str = Query(...), sha256: str = Query(...),
                         user: Any = Depends(viewer)) -> StreamingResponse:
    """The error report of an inbound file (a Stampli export's rejected rows with their reasons, or the note of
    a file refused whole), read from the SFTP server it was written to and passed on as it is read."""
    found = await asyncio.to_thread(lambda: report_of(source, sha256, dag_ids=readable_dags(user)))
    if found is None:
        raise HTTPException(404, "No error report for this file (or not one you may read).")
    conn_id, path = found
    chunks = _read_remote(conn_id, path)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except Exception as exc:  # noqa: BLE001 - the server, the login, the file, a host key refused: say which
        from mlc.hooks.masking import redacted  # a secret quoted in an error stays out of the answer

        raise HTTPException(502, redacted(f"Could not read {path} on {conn_id}: {type(exc).__name__}: {exc}")) from None
    name = path.rsplit("/", 1)[-1]
    return StreamingResponse(_then(first, chunks), media_type="text/csv" if name.endswith(".csv") else "text/plain",
                             headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


def _read_remote(conn_id: str, path: str, size: int = 64 * 1024) -> Iterator[bytes]:
    """The file's bytes, ``size`` at a time, over the connection's SFTP (host key verified as for any task)."""
    from mlc.hooks.sftp import MlcSFTPHook

    hook = MlcSFTPHook(ssh_conn_id=conn_id)
    with hook.get_managed_conn() as sftp, sftp.open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _then(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
