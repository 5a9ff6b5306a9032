"""Kafka for Spark Structured Streaming, as a PySpark Python Data Source over confluent-kafka.

The JVM Kafka connector is not needed: register once, then read and write like the built-in source::

    from fraudguard.kafka.spark_source import KafkaDataSource, kafka_options
    spark.dataSource.register(KafkaDataSource)
    stream = (spark.readStream.format("confluent_kafka")
              .options(**kafka_options(settings))               # kafka.* = librdkafka properties
              .option("topics", "transactions,users")
              .option("startingOffsets", "earliest")           # or "latest"; only for a new query
              .option("maxRowsPerBatch", 50_000)               # admission control (optional)
              .option("uncappedTopics", "users")                # read in full each batch (optional)
              .option("maxTasks", 2)                            # ranges grouped into <= 2 tasks (optional)
              .load())                                          # -> KAFKA_SCHEMA rows
    stream.writeStream.format("confluent_kafka").options(**kafka_options(settings)) \\
          .option("topic", "fraud-alerts")  # or a `topic` column per row
          ...

Reading: each micro-batch is a set of offset ranges, one per topic-partition, read by one Spark task
each, or with `maxTasks`, grouped into at most that many tasks of similar size (a task reads its ranges
with one consumer: on a few cores, fewer and larger tasks cost less than one per partition). With
`maxRowsPerBatch`, the row budget is shared fairly across partitions, except those of `uncappedTopics`
(small table topics a job must see in full before the events that refer to them). The end
offsets Spark checkpoints are the only record of progress (no consumer group, nothing committed to
Kafka), so a restarted query resumes exactly where its last committed batch ended. Offsets that
retention removed before they were read are skipped: reading resumes at the earliest available offset,
and the gap is counted and logged (never an error). A partition that ends before the checkpointed
offset (the topic was recreated, or the cluster formatted anew) is read again from
its earliest offset, also counted and logged. Compacted topics leave holes in the offsets; a
range ends at its end offset or at the end of the partition, whichever comes first.

Writing: rows with `key` and `value` (string or binary), and optionally `topic` and `headers`, are
produced by the idempotent producer and flushed before the task reports success, so a batch Spark
commits is on the broker. A failed task is retried by Spark: delivery is at least once, and consumers
deduplicate by key (the platform's alerts are keyed by transaction id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamArrowWriter,
    DataSourceStreamReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from fraudguard.config import Settings
from fraudguard.kafka.clients import PRODUCER_DEFAULTS, client_config

log = logging.getLogger("fraudguard.kafka.spark")

NAME = "confluent_kafka"
KAFKA_SCHEMA = (
    "topic string, partition int, offset long, timestamp timestamp, key binary, value binary, "
    "headers array<struct<key: string, value: binary>>"
)
ARROW_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),  # Spark's timestamp unit
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("headers", pa.list_(pa.field("element", pa.struct([("key", pa.string()), ("value", pa.binary())])))),
    ]
)
ARROW_BATCH_ROWS = 10_000
METADATA_TIMEOUT_S = 10.0
POLL_S = 0.5
READ_IDLE_TIMEOUT_S = 30.0  # no message and no end of partition for this long: the broker is gone
READ_FETCH_WAIT_MS = 10
"""A range read asks only for offsets the broker already has, so the broker's long poll for new data
(librdkafka's default 500 ms) can only delay it: a fetch left waiting at the end of one range held up
the next range's first fetch by 0.5 s (measured at the live edge, in about half the tasks)."""


def kafka_options(settings: Settings) -> dict[str, str]:
    """The connection settings as `kafka.<property>` options (Spark redacts the secret ones in logs).
    The `logger` object of the platform's clients cannot travel as an option and is left out."""
    config = client_config(settings)
    config.pop("logger", None)
    return {f"kafka.{key}": str(value) for key, value in config.items()}


def _lowercase(options: dict[str, str]) -> dict[str, str]:
    """Spark hands options over with lower-cased names; direct callers may not."""
    return {key.lower(): value for key, value in options.items()}


def _client_properties(options: dict[str, str]) -> dict[str, Any]:
    properties = {k[len("kafka.") :]: v for k, v in options.items() if k.startswith("kafka.")}
    if "bootstrap.servers" not in properties:
        raise ValueError(f"the {NAME} source needs the option kafka.bootstrap.servers")
    return properties


class KafkaDataSource(DataSource):
    """`spark.readStream.format("confluent_kafka")` and `writeStream.format("confluent_kafka")`."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        return KAFKA_SCHEMA

    def streamReader(self, schema: StructType) -> KafkaStreamReader:
        return KafkaStreamReader(dict(self.options))

    def streamWriter(self, schema: StructType, overwrite: bool) -> KafkaStreamWriter:
        return KafkaStreamWriter(dict(self.options), schema.fieldNames())


@dataclass(frozen=True)
class OffsetRange:
    """Offsets [start, end) of one topic-partition."""

    topic: str
    partition: int
    start: int
    end: int


@dataclass(frozen=True)
class ReadTask(InputPartition):
    """The offset ranges one Spark task reads."""

    ranges: tuple[OffsetRange, ...]


def _key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Plans micro-batches as per-partition offset ranges. Offsets are {"topic/partition": next offset}."""

    def __init__(self, options: dict[str, str]) -> None:
        options = _lowercase(options)
        self.properties = _client_properties(options)
        self.topics = [t.strip() for t in options.get("topics", options.get("topic", "")).split(",") if t]
        if not self.topics:
            raise ValueError(f"the {NAME} source needs the option topics (comma-separated names)")
        starting = options.get("startingoffsets", "latest")
        if starting not in ("earliest", "latest"):
            raise ValueError(f"startingOffsets must be 'earliest' or 'latest', got {starting!r}")
        self.starting = starting
        max_rows = options.get("maxrowsperbatch")
        self.max_rows = int(max_rows) if max_rows else None
        self.uncapped = {t.strip() for t in options.get("uncappedtopics", "").split(",") if t.strip()}
        max_tasks = options.get("maxtasks")
        self.max_tasks = int(max_tasks) if max_tasks else None
        self.target: dict[str, int] | None = None  # Trigger.AvailableNow: never read past this
        self.skipped = 0  # offsets lost to retention before they were read
        self.resets = 0  # partitions whose log ended before the checkpointed offset (topic recreated)
        self._begin: dict[str, int] = {}
        self._consumer: Consumer | None = None
        self._latest: dict[str, int] = {}  # high watermarks seen by the last latestOffset

    # -- planning (driver side) --------------------------------------------------------------------

    def _metadata_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                {**self.properties, "group.id": "fraudguard-spark-planner", "enable.auto.commit": False}
            )
        return self._consumer

    def _watermarks(self) -> dict[str, tuple[int, int]]:
        consumer = self._metadata_consumer()
        metadata = consumer.list_topics(timeout=METADATA_TIMEOUT_S)
        marks = {}
        for topic in self.topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise RuntimeError(
                    f"topic {topic!r} does not exist on {self.properties['bootstrap.servers']}"
                )
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S
                )
                marks[_key(topic, partition)] = (low, high)
        return marks

    def initialOffset(self) -> dict[str, int]:
        index = 0 if self.starting == "earliest" else 1
        return {key: marks[index] for key, marks in self._watermarks().items()}

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows) if self.max_rows else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        self.target = {key: high for key, (_, high) in self._watermarks().items()}

    def latestOffset(self, start: dict[str, int], limit: ReadLimit) -> dict[str, int]:
        marks = self._watermarks()
        self._latest = {key: high for key, (_, high) in marks.items()}
        begin, available = {}, {}
        for key, (low, high) in marks.items():
            if self.target is not None:
                high = min(high, self.target.get(key, low))
            offset = start.get(key, low)  # a partition added since the last batch starts at its beginning
            if offset > marks[key][1]:
                self.resets += 1
                log.warning(
                    "the partition ends before the checkpointed offset (the topic was recreated, or the "
                    "cluster was formatted anew); reading it again from its earliest offset",
                    extra={
                        "partition": key,
                        "checkpointed": offset,
                        "end": marks[key][1],
                        "resets": self.resets,
                    },
                )
                offset = low
            elif offset < low:
                self.skipped += low - offset
                log.warning(
                    "offsets lost to retention before they were read; resuming at the earliest available",
                    extra={"partition": key, "from": offset, "to": low, "skipped_total": self.skipped},
                )
                offset = low
            begin[key], available[key] = offset, max(high - offset, 0)
        self._begin = begin
        budget = dict(available)
        if isinstance(limit, ReadMaxRows):
            capped = {
                key: rows for key, rows in available.items() if key.rsplit("/", 1)[0] not in self.uncapped
            }
            budget.update(_fair_share(capped, limit.max_rows))
        return {**start, **{key: begin[key] + budget[key] for key in marks}}

    def reportLatestOffset(self) -> dict[str, int]:
        """What latestOffset just saw (asking the broker again would double the metadata calls); a
        batch replayed after a restart is planned without latestOffset, so then the broker is asked."""
        if not self._latest:
            self._latest = {key: high for key, (_, high) in self._watermarks().items()}
        return self._latest

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> list[ReadTask]:
        ranges = []
        for key, stop in sorted(end.items()):
            topic, partition = key.rsplit("/", 1)
            first = start.get(key, 0)
            if first > stop:  # reset by latestOffset: the partition is read again from its beginning
                first = self._begin.get(key, 0)
            if stop > first:
                ranges.append(OffsetRange(topic, int(partition), first, stop))
        return _group(ranges, self.max_tasks or len(ranges))

    def commit(self, end: dict[str, int]) -> None:
        """Progress lives in Spark's checkpoint; nothing to acknowledge to Kafka."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # -- reading (executor side) -------------------------------------------------------------------

    def read(self, partition: ReadTask) -> Iterator[pa.RecordBatch]:
        consumer = Consumer(
            {
                "fetch.wait.max.ms": READ_FETCH_WAIT_MS,  # a `kafka.fetch.wait.max.ms` option overrides it
                **self.properties,
                "group.id": "fraudguard-spark-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            # librdkafka looks up the leader of a topic new to the client only on its 1-s topic scan:
            # asked for first, the metadata is there when a range is assigned (measured: a range of
            # a task's second topic took 1.0 s to start without this, 0.01 s with it).
            for topic in sorted({task.topic for task in partition.ranges}):
                consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
            for task in partition.ranges:
                yield from read_range(consumer, task)
        finally:
            consumer.close()


def _group(ranges: list[OffsetRange], tasks: int) -> list[ReadTask]:
    """At most `tasks` groups of similar total size (largest range first into the lightest group)."""
    groups: list[list[OffsetRange]] = [[] for _ in range(min(max(tasks, 1), len(ranges)))]
    for task in sorted(ranges, key=lambda r: r.end - r.start, reverse=True):
        min(groups, key=lambda group: sum(r.end - r.start for r in group)).append(task)
    return [ReadTask(tuple(group)) for group in groups]


def _fair_share(available: dict[str, int], max_rows: int) -> dict[str, int]:
    """Split a row budget across partitions: each gets an equal share, and what a small partition
    does not need goes to the others (so one busy partition cannot starve the rest)."""
    share, left = dict.fromkeys(available, 0), max(max_rows, 1)
    pending = sorted(available, key=lambda key: available[key])
    while pending and left > 0:
        each = max(left // len(pending), 1)
        key = pending.pop(0)
        granted = min(available[key], each, left)
        share[key], left = granted, left - granted
    return share


def read_range(consumer: Consumer, task: OffsetRange) -> Iterator[pa.RecordBatch]:
    """The messages of one offset range as Arrow batches. Offsets below the partition's earliest
    (deleted by retention) resume at the earliest; holes left by compaction are simply absent."""
    try:
        consumer.assign([TopicPartition(task.topic, task.partition, task.start)])
        rows: dict[str, list] = {name: [] for name in ARROW_SCHEMA.names}
        done, position, idle_since = False, task.start, time.monotonic()
        while not done:
            # consume() waits until it has num_messages or the timeout passes: ask for what is left.
            wanted = max(min(ARROW_BATCH_ROWS, task.end - position), 1)
            messages = consumer.consume(num_messages=wanted, timeout=POLL_S)
            if not messages:
                if time.monotonic() - idle_since > READ_IDLE_TIMEOUT_S:
                    raise TimeoutError(
                        f"no data from {task.topic}/{task.partition} for {READ_IDLE_TIMEOUT_S:.0f} s "
                        f"while reading offsets {task.start}..{task.end - 1}"
                    )
                continue
            idle_since = time.monotonic()
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done = done or message.offset() >= task.end  # the rest were compacted away
                        continue
                    raise RuntimeError(f"reading {task.topic}/{task.partition}: {error}")
                if message.offset() >= task.end:
                    done = True
                    break
                _append(rows, message)
                position = message.offset() + 1
                done = position >= task.end
                if done:
                    break
            if len(rows["offset"]) >= ARROW_BATCH_ROWS or done:
                yield pa.RecordBatch.from_pydict(rows, schema=ARROW_SCHEMA)
                rows = {name: [] for name in ARROW_SCHEMA.names}
    finally:
        consumer.unassign()


def _append(rows: dict[str, list], message: Any) -> None:
    rows["topic"].append(message.topic())
    rows["partition"].append(message.partition())
    rows["offset"].append(message.offset())
    rows["timestamp"].append(message.timestamp()[1] * 1000)
    rows["key"].append(message.key())
    rows["value"].append(message.value())
    rows["headers"].append([{"key": k, "value": v} for k, v in (message.headers() or [])])


class KafkaStreamWriter(DataSourceStreamArrowWriter):
    """Produces each row to `topic` (column, or the `topic` option) with its key, value and headers."""

    def __init__(self, options: dict[str, str], columns: list[str]) -> None:
        options = _lowercase(options)
        self.properties = _client_properties(options)
        self.topic = options.get("topic")
        missing = {"value"} - set(columns)
        if missing or ("topic" not in columns and not self.topic):
            raise ValueError(
                f"the {NAME} sink needs a `value` column and a `topic` column or option; got {columns}"
            )

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        producer = Producer({**self.properties, **PRODUCER_DEFAULTS})
        failures: list[str] = []

        def delivered(error: KafkaError | None, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        count = 0
        for batch in iterator:
            for row in batch.to_pylist():
                headers = row.get("headers")
                producer.produce(
                    row.get("topic") or self.topic,
                    value=row["value"],
                    key=row.get("key"),
                    headers=[(h["key"], h["value"]) for h in headers] if headers else None,
                    on_delivery=delivered,
                )
                count += 1
                producer.poll(0)
        remaining = producer.flush(READ_IDLE_TIMEOUT_S)
        if remaining or failures:
            raise RuntimeError(
                f"{remaining} messages undelivered and {len(failures)} failed "
                f"(first: {failures[0] if failures else 'timeout'}); Spark will retry the task"
            )
        return ProducedCount(count)

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        produced = sum(m.count for m in messages if isinstance(m, ProducedCount))
        log.info("batch produced", extra={"batch": batchId, "messages": produced})

    def abort(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        log.warning("batch aborted; its produced messages stay (consumers deduplicate by key)",
                    extra={"batch": batchId})  # fmt: skip


@dataclass
class ProducedCount(WriterCommitMessage):
    count: int
