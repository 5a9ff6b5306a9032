"""The SparkSession every batch and streaming job of the platform uses, built from `spark` settings."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import types as T
from pyspark.sql.types import StructType

from fraudguard import jvm
from fraudguard.config import Settings
from fraudguard.paths import PRIVATE_UMASK
from fraudguard.schemas import RecordSchema

ROCKSDB_STATE_STORE = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    """Get or create the session. Python workers run this interpreter (so they see the package), time
    is UTC everywhere so event times mean the same in Spark, Parquet and Kafka, and Spark's own Kafka
    connector is on the classpath (`spark.jars`: the driver ships the jars to every executor). The JVMs
    start with `spark.java_options` (`extraJavaOptions` in `spark.conf` add to them). Streaming state
    lives in RocksDB (what `transformWithState` needs), checkpointed as changelogs. Hadoop, which writes
    Spark's files, applies the platform's private umask too (it has its own, 022)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = settings.spark
    builder = (
        SparkSession.builder.appName(app_name)
        .master(spark.master)
        .config("spark.driver.memory", spark.driver_memory)
        .config("spark.driver.defaultJavaOptions", spark.java_options)
        .config("spark.executor.defaultJavaOptions", spark.java_options)
        .config("spark.sql.shuffle.partitions", str(spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.jars", ",".join(jvm.jar_paths(settings, jvm.SPARK_KAFKA)))
        .config("spark.sql.streaming.stateStore.providerClass", ROCKSDB_STATE_STORE)
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        .config("spark.hadoop.fs.permissions.umask-mode", f"{PRIVATE_UMASK:03o}")
    )
    for key, value in spark.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_schema(schema: RecordSchema) -> StructType:
    """A record schema as Spark's: the same fields, types and nullability."""
    types = {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "strings": T.ArrayType(T.StringType(), containsNull=False),
    }
    return T.StructType([T.StructField(f.name, types[f.type], f.nullable) for f in schema.fields])
