"""ml-connector's page in the Airflow UI: Browse → Deliveries (:mod:`mlc.ui.app`, mounted at ``/mlc``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlc.ui.app import app


class MlcUiPlugin(AirflowPlugin):
    """The deliveries page: files sent to trading partners with their acknowledgments, and inbound files."""

    name = "mlc_ui"
    fastapi_apps = [{"app": app, "url_prefix": "/mlc", "name": "ml-connector deliveries"}]
    external_views = [{"name": "Deliveries", "href": "mlc/deliveries", "destination": "nav", "category": "browse",
                       "url_route": "mlc-deliveries"}]
