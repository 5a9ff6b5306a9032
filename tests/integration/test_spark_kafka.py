"""The Kafka data source for Spark against the real local Kafka broker: offset ranges, checkpointed
progress, admission control, AvailableNow, starting offsets, retention gaps, and the sink."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from fraudguard.config.model import TopicSettings
from fraudguard.kafka.clients import client_config, make_admin, make_producer
from fraudguard.kafka.spark_source import KafkaDataSource, KafkaStreamReader, kafka_options
from fraudguard.kafka.topics import create_topics

pytestmark = pytest.mark.integration


def new_topic(settings, partitions: int = 3) -> str:
    name = f"spark-{uuid.uuid4().hex[:8]}"
    create_topics(settings, [TopicSettings(name=name, partitions=partitions)])
    return name


def produce(settings, topic: str, numbers: range, size: int = 0) -> None:
    producer = make_producer(settings)
    for number in numbers:
        value = str(number).encode() + b" " * size
        producer.produce(topic, key=str(number % 11), value=value, headers=[("n", str(number).encode())])
        producer.poll(0)
    assert producer.flush(30) == 0


def run_available_now(spark, settings, topic: str, checkpoint, **options) -> list[list[int]]:
    """Drain the topic with Trigger.AvailableNow; the numbers read, batch by batch."""
    batches: list[list[int]] = []
    spark.dataSource.register(KafkaDataSource)
    stream = (
        spark.readStream.format("confluent_kafka")
        .options(**kafka_options(settings), topics=topic, **options)
        .load()
    )
    query = (
        stream.writeStream.foreachBatch(
            lambda frame, _id: batches.append([int(r.value.split()[0]) for r in frame.collect()])
        )
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(120), "the AvailableNow query did not end"
    assert query.exception() is None
    return [b for b in batches if b]


def test_reads_every_message_once_in_bounded_batches_and_resumes_from_the_checkpoint(broker, spark, tmp_path):
    settings, _ = broker
    topic = new_topic(settings)
    produce(settings, topic, range(1000))
    first = run_available_now(
        spark, settings, topic, tmp_path / "cp", startingOffsets="earliest", maxRowsPerBatch="300"
    )
    assert sorted(n for batch in first for n in batch) == list(range(1000))
    assert len(first) == 4 and all(len(batch) <= 300 for batch in first)

    produce(settings, topic, range(1000, 1250))
    second = run_available_now(spark, settings, topic, tmp_path / "cp", startingOffsets="earliest")
    assert sorted(n for batch in second for n in batch) == list(range(1000, 1250))


def test_max_tasks_groups_the_ranges_into_fewer_tasks_that_read_each_message_once(broker, spark, tmp_path):
    settings, _ = broker
    topic = new_topic(settings, partitions=5)
    produce(settings, topic, range(700))
    reader = KafkaStreamReader(
        {**kafka_options(settings), "topics": topic, "startingOffsets": "earliest", "maxTasks": "2"}
    )
    start = reader.initialOffset()
    tasks = reader.partitions(start, reader.latestOffset(start, ReadAllAvailable()))
    assert len(tasks) == 2 and sorted(len(task.ranges) for task in tasks) == [2, 3]
    sizes = [sum(r.end - r.start for r in task.ranges) for task in tasks]
    assert sum(sizes) == 700 and max(sizes) - min(sizes) <= 700 // 5

    read = run_available_now(
        spark,
        settings,
        topic,
        tmp_path / "cp",
        startingOffsets="earliest",
        maxRowsPerBatch="300",
        maxTasks="2",
    )
    assert sorted(n for batch in read for n in batch) == list(range(700))


def test_latest_starts_after_what_is_already_there(broker, spark, tmp_path):
    settings, _ = broker
    topic = new_topic(settings)
    produce(settings, topic, range(100))
    assert run_available_now(spark, settings, topic, tmp_path / "cp", startingOffsets="latest") == []
    produce(settings, topic, range(100, 130))
    read = run_available_now(spark, settings, topic, tmp_path / "cp")
    assert sorted(n for batch in read for n in batch) == list(range(100, 130))


def test_rows_carry_topic_partition_offset_key_and_headers(broker, spark):
    settings, _ = broker
    topic = new_topic(settings, partitions=1)
    produce(settings, topic, range(5))
    reader = KafkaStreamReader({**kafka_options(settings), "topics": topic, "startingOffsets": "earliest"})
    start = reader.initialOffset()
    end = reader.latestOffset(start, ReadAllAvailable())
    (task,) = reader.partitions(start, end)
    rows = [row for batch in reader.read(task) for row in batch.to_pylist()]
    assert [(r["topic"], r["partition"], r["offset"]) for r in rows] == [(topic, 0, i) for i in range(5)]
    assert [r["key"] for r in rows] == [str(i % 11).encode() for i in range(5)]
    assert [r["headers"] for r in rows] == [[{"key": "n", "value": str(i).encode()}] for i in range(5)]
    assert all(r["timestamp"] is not None for r in rows)


def test_the_row_budget_is_shared_so_no_partition_starves(broker):
    settings, _ = broker
    topic = new_topic(settings, partitions=3)
    producer = make_producer(settings)
    for number in range(600):  # 580 to partition 0, 10 each to 1 and 2
        partition = 0 if number < 580 else 1 + number % 2
        producer.produce(topic, value=str(number), partition=partition)
    producer.flush(30)
    reader = KafkaStreamReader({**kafka_options(settings), "topics": topic, "startingOffsets": "earliest"})
    start = reader.initialOffset()
    end = reader.latestOffset(start, ReadMaxRows(100))
    assert {key: end[key] - start[key] for key in end} == {
        f"{topic}/0": 80,
        f"{topic}/1": 10,
        f"{topic}/2": 10,
    }


def test_offsets_lost_to_retention_are_skipped_counted_and_never_an_error(broker):
    """Records deleted before they were read (DeleteRecords: what retention does, without waiting)."""
    settings, _ = broker
    topic = new_topic(settings, partitions=1)
    produce(settings, topic, range(4000))
    admin = make_admin(settings)
    (deleted,) = admin.delete_records([TopicPartition(topic, 0, 1500)]).values()
    deleted.result(10)
    consumer = Consumer({**client_config(settings), "group.id": "watermarks"})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    assert (low, high) == (1500, 4000)

    reader = KafkaStreamReader({**kafka_options(settings), "topics": topic})
    end = reader.latestOffset({f"{topic}/0": 0}, ReadAllAvailable())
    assert end == {f"{topic}/0": high} and reader.skipped == low
    (task,) = reader.partitions({f"{topic}/0": 0}, end)
    offsets = [o for batch in reader.read(task) for o in batch.column("offset").to_pylist()]
    assert offsets[0] >= low and offsets[-1] == high - 1
    assert offsets == list(range(offsets[0], high))


def test_a_partition_shorter_than_the_checkpoint_is_read_again_from_its_start(broker):
    """What a query sees after its topic was recreated (or the cluster formatted anew)."""
    settings, _ = broker
    topic = new_topic(settings, partitions=2)
    produce(settings, topic, range(100))
    reader = KafkaStreamReader({**kafka_options(settings), "topics": topic})
    checkpointed = {f"{topic}/0": 5000, f"{topic}/1": 7000}
    end = reader.latestOffset(checkpointed, ReadAllAvailable())
    assert sum(end.values()) == 100 and reader.resets == 2 and reader.skipped == 0
    tasks = reader.partitions(checkpointed, end)
    numbers = sorted(
        int(v.split()[0]) for t in tasks for b in reader.read(t) for v in b.column("value").to_pylist()
    )
    assert numbers == list(range(100))
    assert reader.latestOffset(end, ReadAllAvailable()) == end and reader.resets == 2, (
        "no reset once caught up"
    )


def test_the_sink_produces_every_row_with_key_value_and_topic(broker, spark, tmp_path):
    settings, _ = broker
    source, target = new_topic(settings), new_topic(settings)
    produce(settings, source, range(200))
    spark.dataSource.register(KafkaDataSource)
    options = kafka_options(settings)
    query = (
        spark.readStream.format("confluent_kafka")
        .options(**options, topics=source, startingOffsets="earliest")
        .load()
        .selectExpr("key", "concat(value, ' copied') AS value")
        .writeStream.format("confluent_kafka")
        .options(**options, topic=target)
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(120), "the AvailableNow query did not end"
    assert query.exception() is None
    copied = run_available_now(spark, settings, target, tmp_path / "cp2", startingOffsets="earliest")
    assert sorted(n for batch in copied for n in batch) == list(range(200))
