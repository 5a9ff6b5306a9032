"""The topic registry on a cluster: make sure every configured topic exists, and describe them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from fraudguard.config import Settings, TopicRole, TopicSettings
from fraudguard.kafka.clients import make_admin, make_consumer
from fraudguard.kafka.devbroker import control as devbroker_control

METADATA_TIMEOUT_S = 10.0
CreateTopics = Callable[[list[TopicSettings]], dict[str, str | None]]
"""Creates topics; returns, per topic name, None on success or the reason it failed."""


@dataclass(frozen=True)
class TopicReport:
    """What `ensure_topics` found or did for one registry topic."""

    role: TopicRole
    name: str
    configured_partitions: int
    actual_partitions: int | None
    action: str  # "created" | "exists" | "failed"
    detail: str = ""


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    low: int
    high: int


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: list[PartitionInfo]

    @property
    def messages(self) -> int:
        """Messages currently retained (high minus low watermark, summed over partitions)."""
        return sum(p.high - p.low for p in self.partitions)


def existing_topics(admin: AdminClient) -> dict[str, int]:
    """Topic name -> partition count, internal topics left out."""
    metadata = admin.list_topics(timeout=METADATA_TIMEOUT_S)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if not name.startswith("__") and topic.error is None
    }


def ensure_topics(settings: Settings, create: CreateTopics | None = None) -> list[TopicReport]:
    """Create the registry topics that are missing; report each one.

    Existing topics are never altered: a partition count below the configured one is reported,
    because adding partitions re-maps keys and is an operator's decision.
    """
    admin = make_admin(settings)
    existing = existing_topics(admin)
    registry = settings.topics.all()
    missing = [topic for topic in registry.values() if topic.name not in existing]
    if create is None:
        create = _dev_broker_create(settings) if settings.kafka.uses_dev_broker else _admin_create(admin)
    failures = create(missing) if missing else {}
    reports = []
    for role, topic in registry.items():
        if topic.name in existing:
            actual = existing[topic.name]
            detail = (
                f"has {actual} partitions, fewer than the configured {topic.partitions}"
                if actual < topic.partitions
                else ""
            )
            reports.append(TopicReport(role, topic.name, topic.partitions, actual, "exists", detail))
        elif failures.get(topic.name):
            reports.append(
                TopicReport(role, topic.name, topic.partitions, None, "failed", failures[topic.name])
            )
        else:
            reports.append(TopicReport(role, topic.name, topic.partitions, topic.partitions, "created"))
    return reports


def _admin_create(admin: AdminClient) -> CreateTopics:
    def create(topics: list[TopicSettings]) -> dict[str, str | None]:
        new_topics = [
            NewTopic(
                topic.name,
                num_partitions=topic.partitions,
                replication_factor=topic.replication_factor,
                config={"cleanup.policy": "compact"} if topic.compacted else {},
            )
            for topic in topics
        ]
        results: dict[str, str | None] = {}
        for name, future in admin.create_topics(new_topics, operation_timeout=30).items():
            try:
                future.result()
                results[name] = None
            except KafkaException as error:
                kafka_error = error.args[0]
                already = kafka_error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                results[name] = None if already else kafka_error.str()
        return results

    return create


def _dev_broker_create(settings: Settings) -> CreateTopics:
    return lambda topics: devbroker_control.create_topics(settings, topics)


def describe_topics(settings: Settings, names: Iterable[str] | None = None) -> list[TopicInfo]:
    """Partitions, leaders and watermarks of the given topics (default: the registry's)."""
    wanted = list(names) if names is not None else [t.name for t in settings.topics.all().values()]
    metadata = make_admin(settings).list_topics(timeout=METADATA_TIMEOUT_S)
    consumer = make_consumer(settings, group_id="fraudguard-inspector")
    try:
        infos = []
        for name in wanted:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                continue
            partitions = []
            for partition_id, partition in sorted(topic.partitions.items()):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition_id), timeout=METADATA_TIMEOUT_S
                )
                partitions.append(PartitionInfo(partition_id, partition.leader, low, high))
            infos.append(TopicInfo(name, partitions))
        return infos
    finally:
        consumer.close()


def read_topic(settings: Settings, name: str, timeout_s: float = 60.0) -> list[Message]:
    """Every message a topic holds now, read from the start to each partition's end (no group
    commits): for inspecting a topic, e.g. the dead letters, and for tests."""
    consumer = make_consumer(settings, group_id=f"fraudguard-read-{uuid.uuid4().hex[:8]}")
    try:
        metadata = consumer.list_topics(name, timeout=10).topics[name]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
            for p in metadata.partitions
        }
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in ends])
        messages, position = [], dict.fromkeys(ends, 0)
        deadline = time.monotonic() + timeout_s
        while any(position[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            messages.append(message)
            position[message.partition()] = message.offset() + 1
        return messages
    finally:
        consumer.close()
