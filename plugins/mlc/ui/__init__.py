"""What ml-connector shows in the Airflow UI: the deliveries page (a FastAPI app the api-server mounts, registered by
``plugins/mlc_ui_plugin.py``)."""
