"""Airflow plugins shipped with Assay (registered through the `airflow.plugins` entry point)."""
