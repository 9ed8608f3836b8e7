"""OpenLineage: each task says what it read and what it wrote, through the OpenLineage provider (which sends it to
the transport a deployment configures: Marquez, a file, the console).

The chain a run draws: the source system's object (``intacct://<conn>/APBILL``, ``exactonline://<conn>/...``) ->
the staged records (a file under ``MLC_STAGING_URL``) -> the rendered file -> the partner's folder
(``sftp://<conn>/<folder>/<file>``), a Sterling mailbox, or a Snowflake table. Datasets are named by connection
id, as the delivery ledger and the assets name destinations.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def dataset(namespace: str, name: str) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=namespace, name=name)


def file_dataset(uri: str) -> Any:
    """A staged or rendered file (``file:///...``, ``s3://bucket/...``) as a dataset."""
    parts = urlsplit(uri if "://" in uri else f"file://{uri}")
    namespace = f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme
    return dataset(namespace, parts.path)


class ReportsLineage:
    """Mixin for an operator that notes ``self.lineage = (inputs, outputs)`` while it runs; the OpenLineage
    provider reads them when the task completes."""

    lineage: tuple[list[Any], list[Any]] | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow.providers.openlineage.extractors import OperatorLineage

        inputs, outputs = self.lineage or ([], [])
        return OperatorLineage(inputs=list(inputs), outputs=list(outputs))
