"""Spark's own Kafka connector (the jars the install step fetched) against the local Kafka, with the
connection options made from the one config: a streaming read and the Kafka sink, and a batch read."""

from __future__ import annotations

import uuid

import pytest

from fraudguard.config import TopicSettings
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.java_client import spark_kafka_options
from fraudguard.kafka.topics import create_topics, read_topic

pytestmark = pytest.mark.integration


def new_topic(settings) -> str:
    name = f"connector-{uuid.uuid4().hex[:8]}"
    assert create_topics(settings, [TopicSettings(name=name, partitions=3)]) == {name: None}
    return name


def test_a_stream_read_by_the_connector_is_written_whole_by_its_kafka_sink(broker, spark, tmp_path):
    settings, _ = broker
    source, target = new_topic(settings), new_topic(settings)
    producer = make_producer(settings)
    for number in range(200):
        producer.produce(source, key=f"k{number % 7}", value=str(number))
    assert producer.flush(10) == 0
    options = spark_kafka_options(settings)

    query = (
        spark.readStream.format("kafka")
        .options(**options)
        .option("subscribe", source)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("key", "concat(CAST(value AS STRING), ' copied') AS value")
        .writeStream.format("kafka")
        .options(**options)
        .option("topic", target)
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(180), "the AvailableNow query did not end"
    assert query.exception() is None

    copied = sorted((m.key().decode(), m.value().decode()) for m in read_topic(settings, target))
    assert copied == sorted((f"k{n % 7}", f"{n} copied") for n in range(200))
    counted = (
        spark.read.format("kafka")
        .options(**options)
        .option("subscribe", target)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .groupBy("partition")
        .count()
        .collect()
    )
    assert sum(row["count"] for row in counted) == 200
