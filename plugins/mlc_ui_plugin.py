"""ml-connector in the Airflow UI: Browse → Deliveries (:mod:`mlc.ui.app`, mounted at ``/mlc``), and the Test
button of its connection types with a hidden port (:mod:`mlc.ui.test_button`)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlc.ui.app import app
from mlc.ui.test_button import HiddenPortMiddleware


class MlcUiPlugin(AirflowPlugin):
    """The deliveries page: files sent to trading partners with their acknowledgments, and inbound files."""

    name = "mlc_ui"
    fastapi_apps = [{"app": app, "url_prefix": "/mlc", "name": "ml-connector deliveries"}]
    fastapi_root_middlewares = [{"middleware": HiddenPortMiddleware, "args": [], "kwargs": {},
                                 "name": "ml-connector: the Test button of connections with a hidden port"}]
    external_views = [{"name": "Deliveries", "href": "mlc/deliveries", "destination": "nav", "category": "browse",
                       "url_route": "mlc-deliveries"}]
