"""The scoring jobs' inputs: Spark's Kafka connector on the registry's topics."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudguard.config import Settings, TopicRole
from fraudguard.kafka.java_client import spark_kafka_options
from fraudguard.schemas import RecordSchema
from fraudguard.stream.parse import PROBLEM, parse_topic, records

FETCH_MAX_WAIT_MS = 20
"""The connector's consumers are reused by the next micro-batch, whose first fetch waits behind the
prefetch left at the broker, which the broker holds for up to `fetch.max.wait.ms` (500 by default)
when no new data came: every Kafka task of every micro-batch would wait that long. A
`kafka.java_client_properties` value replaces it."""


def kafka_source(spark: SparkSession, settings: Settings, topics: list[str], cap: int | None) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
        .options(**spark_kafka_options(settings))
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", settings.stream.starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if cap is not None:
        reader = reader.option("maxOffsetsPerTrigger", str(cap))
    return reader.load()


def topic_records(
    spark: SparkSession, settings: Settings, role: TopicRole, schema: RecordSchema
) -> DataFrame:
    """The valid records of a whole topic, read once (a batch job), by the stream's rule."""
    raw = (
        spark.read.format("kafka")
        .options(**spark_kafka_options(settings))
        .option("subscribe", settings.topics.get(role).name)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .load()
    )
    return parse_topic(raw, schema).where(F.col(PROBLEM).isNull()).select(records(schema, F.col("value")))
