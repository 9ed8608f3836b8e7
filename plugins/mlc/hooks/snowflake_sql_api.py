"""The provider's SnowflakeSqlApiHook, reaching the endpoint the connection names, and running a list
of statements one after the other to completion.

The provider always calls ``https://<account>.snowflakecomputing.com``; with the connection's
``sql_api_url`` extra (a proxy, or the sandbox's local SQL API server) the calls go there instead. Key-pair JWT, retries on 429/503/504 and the 202/200/422 polling are the
provider's own, under the deployment's :class:`~mlc.hooks.retry.RetryPolicy`. Statements are resubmitted on a retry without Snowflake's ``retry=true``, so only
idempotent SQL (MERGE, DDL, UPDATE to a fixed value) is sent this way.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from airflow.providers.snowflake.hooks.sql_api import SnowflakeSqlApiHook

from mlc.hooks.retry import RetryPolicy, call_with_retries, tenacity_args

log = logging.getLogger(__name__)


class SqlApiAnswerUnreadable(RuntimeError):
    """The SQL API's answer was not JSON."""


class MlcSnowflakeSqlApiHook(SnowflakeSqlApiHook):
    """SQL API hook that honours the ``sql_api_url`` extra and waits for each statement."""

    hook_name = "Snowflake SQL API (ml-connector)"

    def __init__(self, *args: Any, poll_interval: float = 2.0, statement_timeout: int = 3600,
                 retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        self.retry_policy = retry or RetryPolicy.configured()
        retry_args = {**tenacity_args(self.retry_policy, self._should_retry_on_error, what="Snowflake SQL API call",
                                      logger=log), **(kwargs.pop("api_retry_args", None) or {})}
        super().__init__(*args, api_retry_args=retry_args, **kwargs)
        self.poll_interval, self.statement_timeout = poll_interval, statement_timeout
        self.requests_sent = 0

    def _endpoint(self, url: str) -> str:
        base = self.get_connection(self.get_conn_id()).extra_dejson.get("sql_api_url")
        if not base:
            return url
        return url.replace(f"{self.account_identifier}.snowflakecomputing.com", str(base).rstrip("/"), 1)

    def _make_api_call_with_retries(self, method: str, url: str, headers: dict, params: dict | None = None,
                                    json: dict | None = None) -> Any:
        """The provider's call (429/503/504 retried), plus: an answer that is not JSON (a proxy's HTML page) is
        retried a few times and then named, instead of surfacing as a bare JSONDecodeError."""
        def once() -> Any:
            self.requests_sent += 1
            try:
                return super(MlcSnowflakeSqlApiHook, self)._make_api_call_with_retries(
                    method, self._endpoint(url), headers, params, json)
            except requests.exceptions.JSONDecodeError as exc:
                raise SqlApiAnswerUnreadable(
                    f"Snowflake SQL API {method} {self._endpoint(url)} answered with something that is not JSON "
                    f"({exc}): a proxy or maintenance page?") from None

        return call_with_retries(once, policy=self.retry_policy, what="Snowflake SQL API call", logger=log,
                                 retryable=lambda exc: isinstance(exc, SqlApiAnswerUnreadable))

    def run_statements(self, statements: list[str], query_tag: str = "") -> list[list[tuple[Any, ...]]]:
        """Run each statement to completion, in order; the rows each one returned."""
        results = []
        for sql in statements:
            for query_id in self.execute_query(sql, statement_count=1, query_tag=query_tag):
                self.wait_for_query(query_id, raise_error=True, poll_interval=self.poll_interval,  # type: ignore[arg-type]
                                    timeout=self.statement_timeout)
                rows = self.get_result_from_successful_sql_api_query(query_id)
                results.append([tuple(row.values()) for row in rows])
        return results
