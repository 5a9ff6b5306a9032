"""The SparkSession every batch and streaming job of the platform uses, built from `spark` settings."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from fraudguard.config import Settings


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    """Get or create the session. Python workers run this interpreter (so they see the package), and
    time is UTC everywhere so event times mean the same in Spark, Parquet and Kafka."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = settings.spark
    builder = (
        SparkSession.builder.appName(app_name)
        .master(spark.master)
        .config("spark.driver.memory", spark.driver_memory)
        .config("spark.sql.shuffle.partitions", str(spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
    )
    for key, value in spark.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
