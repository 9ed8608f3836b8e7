"""Staging: where tasks leave records and files for the next task.

Paths live under ``MLC_STAGING_URL`` (an ``ObjectStoragePath``; default
``file://$AIRFLOW_HOME/staging``) and are derived from dag id, run id and task id only, so a retry
or a replay of a task overwrites its own output and never sees another run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow.sdk import ObjectStoragePath

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
CHUNK = 1 << 16


def staging_root() -> ObjectStoragePath:
    """Return the root of the staging area from ``MLC_STAGING_URL``."""
    url = os.environ.get("MLC_STAGING_URL")
    if not url:
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        url = f"file://{os.path.abspath(home)}/staging"
    return ObjectStoragePath(url)


def _safe(part: str) -> str:
    cleaned = _UNSAFE.sub("_", part).strip("._")
    if not cleaned:
        raise ValueError(f"Cannot derive a staging path component from {part!r}")
    return cleaned


def staging_dir(context: Mapping[str, Any]) -> ObjectStoragePath:
    """Return (and create) this task's staging folder: ``<root>/<dag_id>/<run_id>/<task_id>``."""
    ti = context["ti"]
    path = staging_root() / _safe(ti.dag_id) / _safe(ti.run_id) / _safe(ti.task_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_chunks(path: ObjectStoragePath, chunks: Iterable[bytes]) -> tuple[str, int]:
    """Stream ``chunks`` into ``path``; return its sha256 hex digest and size in bytes."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def file_sha256(path: ObjectStoragePath) -> tuple[str, int]:
    """Return the sha256 hex digest and size of a staged file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def staged_records(uri: str) -> Iterator[dict[str, Any]]:
    """The records an extract task staged at ``uri`` (JSON lines), one at a time."""
    with ObjectStoragePath(uri).open("rb") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
