"""SnowflakeHook that honours a ``protocol`` connection extra.

The provider forwards the ``host`` and ``port`` extras to the connector but not ``protocol``, so
it always speaks HTTPS. A Snowflake endpoint reached over plain HTTP (fakesnow's server mode in
the sandbox, or a TLS-terminating proxy on loopback) needs ``protocol: "http"``. Everything else
is the provider's hook unchanged, so a real account works with the same connection form.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook


class MlcSnowflakeHook(SnowflakeHook):
    """The provider's SnowflakeHook plus the ``protocol`` extra.

    .. note:: Overrides the provider's private ``_get_conn_params`` (6.20.0); re-check on upgrades.
    """

    hook_name = "Snowflake (ml-connector)"

    def _get_conn_params(self) -> dict[str, Any]:
        params = super()._get_conn_params()
        protocol = self.get_connection(self.get_conn_id()).extra_dejson.get("protocol")
        if protocol:
            params["protocol"] = protocol
        return params
