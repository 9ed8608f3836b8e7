"""Keep secrets out of task logs: every hook registers what it must never print."""

from __future__ import annotations


def mask(*secrets: str | None) -> None:
    """Register each non-empty secret with Airflow's log masker (outside a task there is none)."""
    try:
        from airflow.sdk.log import mask_secret
    except Exception:  # noqa: BLE001 - no Task SDK: nothing to register with
        return
    for secret in secrets:
        if secret:
            try:
                mask_secret(secret)
            except Exception:  # noqa: BLE001 - outside a task there is no masker; nothing to do
                pass


def redacted(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``: for what leaves through another door than the
    task log (an alert mail)."""
    try:
        from airflow.sdk._shared.secrets_masker import redact  # where Airflow 3.3 asks callers to take it from
    except Exception:  # noqa: BLE001 - no Task SDK: nothing registered
        return text
    result = redact(text)
    return result if isinstance(result, str) else text
