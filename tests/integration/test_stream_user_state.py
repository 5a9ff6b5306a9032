"""Parity of the stream's per-user features with the batch features: a simulated world's transactions
go through the real broker, the Kafka data source and transformWithStateInPandas in several
micro-batches, and come out with the values batch training computes."""

from __future__ import annotations

import uuid

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from fraudguard.config.model import SimulatorSettings, TopicSettings
from fraudguard.features.batch import user_history_features
from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, feature_names
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.devbroker.control import create_topics
from fraudguard.kafka.spark_source import KafkaDataSource, kafka_options
from fraudguard.schemas import TRANSACTION
from fraudguard.stream.user_state import SESSION_CONF, with_user_history
from tests.conftest import simulated_world

pytestmark = pytest.mark.integration


def test_stream_features_equal_batch_features_over_many_micro_batches(broker, spark, tmp_path):
    settings, _ = broker
    transactions, _, _ = simulated_world(SimulatorSettings(users=300, merchants=60, days=6, seed=5))
    transactions = transactions.sort_values(["timestamp", "transaction_id"], ignore_index=True)
    topic = f"parity-{uuid.uuid4().hex[:8]}"
    create_topics(settings, [TopicSettings(name=topic, partitions=3)])
    producer = make_producer(settings)
    keys, values = TRANSACTION.encode(pa.Table.from_pandas(transactions, TRANSACTION.arrow()))
    for key, value in zip(keys, values, strict=True):
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0

    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    spark.dataSource.register(KafkaDataSource)
    parsed = (
        spark.readStream.format("confluent_kafka")
        .options(**kafka_options(settings), topics=topic, startingOffsets="earliest", maxRowsPerBatch="1500")
        .load()
        .select(F.from_json(F.col("value").cast("string"), TRANSACTION.spark()).alias("t"))
        .select("t.*")
        .select(
            "transaction_id",
            "user_id",
            "merchant_id",
            "amount",
            "device_ip",
            F.col("timestamp").cast("double").alias("ts"),
            (F.col("channel") == "in_store").alias("in_store"),
        )
    )
    batches: list[pd.DataFrame] = []
    query = (
        with_user_history(parsed)
        .writeStream.foreachBatch(lambda frame, _id: batches.append(frame.toPandas()))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(300), "the AvailableNow query did not end"
    assert query.exception() is None
    assert len([b for b in batches if len(b)]) >= 3, "the rows did not spread over several batches"

    streamed = pd.concat(batches).set_index("transaction_id").sort_index()
    assert len(streamed) == len(transactions) and streamed.index.is_unique
    batch = (
        user_history_features(spark.createDataFrame(transactions, TRANSACTION.spark()))
        .toPandas()
        .set_index("transaction_id")
        .sort_index()
    )
    columns = feature_names(WINDOWS)
    pd.testing.assert_frame_equal(streamed[columns], batch[columns], check_exact=False, rtol=1e-9, atol=1e-6)
    pd.testing.assert_series_equal(
        streamed[PREVIOUS_STORE].fillna("-"), batch[PREVIOUS_STORE].fillna("-"), check_dtype=False
    )
