"""The topic registry on a cluster: make sure every configured topic exists, and describe them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition
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
