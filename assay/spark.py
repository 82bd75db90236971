"""The SparkSession Assay uses: the master comes from spark-submit, or local[N] when run directly."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def prepare_environment() -> None:
    """Executors must run this interpreter (it has pyarrow and assay); bind Spark to loopback."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def get_spark(app_name: str = "assay", master: str | None = None) -> SparkSession:
    """The active session, or a new one; local[2] unless spark-submit already chose a master."""
    prepare_environment()
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM starts first and hands Python a gateway: keep its master.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or os.environ.get("ASSAY_SPARK_MASTER", "local[2]"))
    spark = (
        builder.config(
            "spark.sql.shuffle.partitions", os.environ.get("ASSAY_SHUFFLE_PARTITIONS", "8")
        )
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("ASSAY_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel(os.environ.get("ASSAY_SPARK_LOG_LEVEL", "WARN"))
    return spark
