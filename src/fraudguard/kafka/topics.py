"""The topic registry on a cluster: make sure every configured topic exists, and describe them."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec

from fraudguard.config import Settings, TopicRole, TopicSettings
from fraudguard.kafka.clients import make_admin, make_consumer, retry_transient

METADATA_TIMEOUT_S = 10.0
log = logging.getLogger("fraudguard.kafka.topics")


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
    replicas: list[int]
    isr: list[int]
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


def ensure_topics(settings: Settings) -> list[TopicReport]:
    """Create the registry topics that are missing (Admin API), with their partitions, replication,
    compaction and retention from config; report each one.

    Existing topics are never altered: fewer partitions than configured, or a different cleanup
    policy, is reported, because changing either re-maps keys or drops data: an operator's decision.
    """
    admin = make_admin(settings)
    existing = existing_topics(admin)
    registry = settings.topics.all()
    missing = [topic for topic in registry.values() if topic.name not in existing]
    failures = create_topics(settings, missing, admin) if missing else {}
    policies = _cleanup_policies(admin, [t.name for t in registry.values() if t.name in existing])
    reports = []
    for role, topic in registry.items():
        if topic.name in existing:
            actual = existing[topic.name]
            reports.append(
                TopicReport(role, topic.name, topic.partitions, actual, "exists",
                            _drift(topic, actual, policies.get(topic.name)))
            )  # fmt: skip
        elif failures.get(topic.name):
            reports.append(
                TopicReport(role, topic.name, topic.partitions, None, "failed", failures[topic.name] or "")
            )
        else:
            reports.append(TopicReport(role, topic.name, topic.partitions, topic.partitions, "created"))
    return reports


def _drift(topic: TopicSettings, partitions: int, policy: str | None) -> str:
    problems = []
    if partitions < topic.partitions:
        problems.append(f"has {partitions} partitions, fewer than the configured {topic.partitions}")
    wanted = "compact" if topic.compacted else "delete"
    if policy is not None and policy != wanted:
        problems.append(f"cleanup.policy is {policy}, configured {wanted}")
    return "; ".join(problems)


def create_topics(
    settings: Settings, topics: list[TopicSettings], admin: AdminClient | None = None
) -> dict[str, str | None]:
    """Create topics through the Admin API with their partitions, replication and configs.
    Topic name -> None when created (or created meanwhile by someone else), else the reason."""
    admin = admin or make_admin(settings)
    new_topics = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=topic.replication_factor,
            config=topic.kafka_config(),
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
    _await_leaders(settings, admin, [name for name, reason in results.items() if reason is None])
    return results


def _await_leaders(settings: Settings, admin: AdminClient, names: list[str]) -> None:
    """Wait until every node's metadata shows a leader for each partition of `names`: the controller
    confirms a creation before the nodes have learnt of it, and a client asking such a node at once
    would be told that the topic does not exist."""
    if not names:
        return
    deadline = time.monotonic() + 3 * METADATA_TIMEOUT_S
    nodes = admin.list_topics(timeout=METADATA_TIMEOUT_S).brokers.values()
    for node in nodes:
        asked = make_admin(settings, **{"bootstrap.servers": f"{node.host}:{node.port}"})
        try:
            while unknown := _without_leaders(asked, names):
                if time.monotonic() > deadline:
                    log.warning("topics created but not yet known everywhere", extra={"topics": unknown})
                    return
                time.sleep(0.2)
        except KafkaException as error:  # a node that went down meanwhile has nothing to learn
            log.warning("cannot ask a node for its metadata", extra={"node": node.id, "error": str(error)})


def _without_leaders(admin: AdminClient, names: list[str]) -> list[str]:
    topics = admin.list_topics(timeout=METADATA_TIMEOUT_S).topics
    return [
        name
        for name in names
        if name not in topics
        or topics[name].error is not None
        or any(part.leader < 0 for part in topics[name].partitions.values())
    ]


def _cleanup_policies(admin: AdminClient, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    policies = {}
    for resource, future in admin.describe_configs(resources, request_timeout=METADATA_TIMEOUT_S).items():
        entry = future.result().get("cleanup.policy")
        if entry is not None:
            policies[resource.name] = entry.value
    return policies


def describe_topics(settings: Settings, names: Iterable[str] | None = None) -> list[TopicInfo]:
    """Partitions, leaders, replicas, in-sync replicas and watermarks of the given topics (default:
    the registry's), through the Admin API."""
    wanted = list(names) if names is not None else [t.name for t in settings.topics.all().values()]
    admin = make_admin(settings)
    metadata = admin.list_topics(timeout=METADATA_TIMEOUT_S)
    found = {
        name: metadata.topics[name]
        for name in wanted
        if name in metadata.topics and metadata.topics[name].error is None
    }
    partitions = [TopicPartition(name, p) for name, topic in found.items() for p in topic.partitions]
    low, high = watermarks(admin, partitions)
    infos = []
    for name, topic in found.items():
        rows = [
            PartitionInfo(p, part.leader, list(part.replicas), list(part.isrs), low[name, p], high[name, p])
            for p, part in sorted(topic.partitions.items())
        ]
        infos.append(TopicInfo(name, rows))
    return infos


@retry_transient
def watermarks(
    admin: AdminClient, partitions: list[TopicPartition]
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """(earliest, latest) offset per (topic, partition), asked of each partition's leader."""
    ends: list[dict[tuple[str, int], int]] = []
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        if not partitions:
            ends.append({})
            continue
        futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=METADATA_TIMEOUT_S)
        ends.append({(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()})
    return ends[0], ends[1]


@retry_transient
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
            position[message.partition()] = (message.offset() or 0) + 1
        return messages
    finally:
        consumer.close()
