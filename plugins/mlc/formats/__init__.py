"""Formats of ml-connector: pure-Python writers and readers, no Airflow import."""
