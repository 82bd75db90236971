"""Shared fixtures: one SparkSession for the whole test session, paths to shared data."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ASSAY_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def spark():
    """One local[2] session shared by every Spark test."""
    from assay.spark import get_spark

    session = get_spark("assay-tests", master="local[2]")
    yield session
    session.stop()
    # py4j logs its shutdown at INFO after pytest has closed the captured streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip where an outside clone does not have it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set ASSAY_SHARED_DATA)")
    return SHARED_DATA
