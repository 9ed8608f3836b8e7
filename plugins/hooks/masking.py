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
