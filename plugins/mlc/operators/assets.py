"""Airflow 3 assets for what ml-connector delivers: each delivery updates the asset of its destination (a
partner's SFTP folder, a Sterling mailbox, a Snowflake table), with the file's sha256, records and control
numbers in the event's ``extra``, so that a downstream DAG can be scheduled on the data
(``schedule=[Asset("sftp://sftp_default/outbound")]``).

The destination is known at run time only (its folder is a Param), so a delivering operator declares an asset
alias (one per DAG and task: :func:`declare`, in its constructor) as its outlet, and adds the destination's asset
to it when something arrived there (:func:`announce`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset, AssetAlias, BaseOperator, Context


def delivery_alias(task: BaseOperator) -> AssetAlias:
    """The alias a delivering task declares: its DAG and task, one per delivery step."""
    return AssetAlias(name=f"mlc__{task.dag_id}__{task.task_id}")


def declare(task: BaseOperator) -> None:
    """Give a delivering task built in a DAG its alias as an outlet (the DAG files need not say it)."""
    if task.has_dag():
        task.add_outlets([delivery_alias(task)])


def destination_asset(destination: str, uri: str | None = None) -> Asset:
    """The asset of a delivery destination, named as the delivery ledger names it (``sftp://<conn>/<folder>``,
    ``sterling://<conn>/<mailbox>``, ``snowflake://<conn>/<table>``); its URI is the destination's, or ``uri`` where
    a provider asks for another form (Snowflake: ``snowflake://<account>/<database>/<schema>/<table>``)."""
    return Asset(name=destination, uri=uri or destination, group="ml-connector deliveries")


def announce(task: BaseOperator, context: Context, destination: str, extra: Mapping[str, Any], *,
             uri: str | None = None) -> None:
    """Add an event for ``destination`` to the task's delivery alias (when the task declares it)."""
    alias = delivery_alias(task)
    if not any(isinstance(o, AssetAlias) and o.name == alias.name for o in task.outlets or ()):
        return
    context["outlet_events"][alias].add(destination_asset(destination, uri),
                                        extra={k: v for k, v in extra.items() if v is not None})
