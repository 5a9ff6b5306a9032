"""Consumer groups' offsets: their lag, and moving a group's committed offsets back (what
`kafka-consumer-groups --reset-offsets` does) for replaying a topic into a service whose writes are
idempotent (the alert store keeps one row per alert).

A group being moved must have no active member: Kafka rejects a commit from outside a live group's
generation. Offsets are clamped to what the topic still retains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import KafkaException, TopicPartition

from fraudguard.config import Settings
from fraudguard.kafka.clients import make_admin, make_consumer, retry_transient
from fraudguard.kafka.topics import watermarks

TIMEOUT_S = 10.0
EARLIEST = "earliest"


@dataclass(frozen=True)
class Rewound:
    """One partition: the group's committed offset before (None: never committed) and after."""

    partition: int
    before: int | None
    after: int
    low: int
    high: int

    @property
    def to_replay(self) -> int:
        return self.high - self.after


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    high: int

    @property
    def lag(self) -> int:
        return self.high - (self.committed or 0)


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    partitions: list[PartitionLag]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


def parse_start(value: str) -> int | None:
    """`earliest` (None) or an offset >= 0; a ValueError says what was expected."""
    if value == EARLIEST:
        return None
    if value.isdigit():
        return int(value)
    raise ValueError(f"expected 'earliest' or an offset (an integer >= 0), got {value!r}")


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (without a zone: UTC); a ValueError says what was expected."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time such as 2026-11-30T09:00:00Z, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def group_lags(settings: Settings) -> list[GroupLag]:
    """Every consumer group with committed offsets: per partition, committed offset, end and lag.

    Committed offsets are read by a consumer in each group that never joins it: librdkafka's Admin
    ListConsumerGroupOffsets crashes the process when a coordinator answers NOT_COORDINATOR
    (confluentinc/librdkafka#5040), as it does while a cluster starts or a node fails over."""
    admin = make_admin(settings)
    listings = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result(TIMEOUT_S).valid
    metadata = admin.list_topics(timeout=TIMEOUT_S).topics
    every = [
        TopicPartition(name, p)
        for name, topic in sorted(metadata.items())
        if not name.startswith("__")
        for p in topic.partitions
    ]
    groups: list[tuple[str, str, list[TopicPartition]]] = []
    for listing in sorted(listings, key=lambda g: g.group_id) if every else []:
        consumer = make_consumer(settings, listing.group_id)
        try:
            committed = [tp for tp in consumer.committed(every, timeout=TIMEOUT_S) if tp.offset >= 0]
        finally:
            consumer.close()
        if committed:
            groups.append((listing.group_id, listing.state.name.lower(), committed))
    wanted = {(tp.topic, tp.partition) for *_, committed in groups for tp in committed}
    _, high = watermarks(admin, [TopicPartition(topic, partition) for topic, partition in sorted(wanted)])
    return [
        GroupLag(
            group,
            state,
            [
                PartitionLag(tp.topic, tp.partition, tp.offset, high[(tp.topic, tp.partition)])
                for tp in sorted(committed, key=lambda tp: (tp.topic, tp.partition))
            ],
        )
        for group, state, committed in groups
    ]


@retry_transient
def rewind_group(
    settings: Settings,
    group_id: str,
    topic: str,
    start: int | datetime | None,
    partitions: list[int] | None = None,
) -> list[Rewound]:
    """Commit `start` for `partitions` (default: all of the topic's) as `group_id`'s position in
    `topic`: an offset, the first offset at or after a time (the end where nothing is that recent), or
    None for the earliest retained. Raises ValueError for an unknown topic or partition."""
    consumer = make_consumer(settings, group_id)
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ValueError(f"topic {topic!r} does not exist")
        known = sorted(metadata.partitions)
        chosen = known if partitions is None else sorted(set(partitions))
        unknown = [p for p in chosen if p not in known]
        if unknown:
            raise ValueError(f"topic {topic!r} has partitions {known}, not {unknown}")
        committed = consumer.committed([TopicPartition(topic, p) for p in chosen], timeout=TIMEOUT_S)
        by_time = _offsets_at(consumer, topic, chosen, start) if isinstance(start, datetime) else {}
        rewound, offsets = [], []
        for position in committed:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, position.partition), timeout=TIMEOUT_S
            )
            wanted = by_time[position.partition] if isinstance(start, datetime) else start
            after = low if wanted is None else min(max(wanted, low), high)
            before = position.offset if position.offset >= 0 else None
            rewound.append(Rewound(position.partition, before, after, low, high))
            offsets.append(TopicPartition(topic, position.partition, after))
        for result in consumer.commit(offsets=offsets, asynchronous=False) or []:
            if result.error is not None:
                raise KafkaException(result.error)
        return rewound
    finally:
        consumer.close()


def _offsets_at(consumer, topic: str, partitions: list[int], when: datetime) -> dict[int, int]:
    """Per partition, the first offset whose timestamp is at or after `when`; past the last one, the
    end of the partition (a huge offset, clamped by the caller)."""
    millis = int(when.timestamp() * 1000)
    asked = [TopicPartition(topic, p, millis) for p in partitions]
    found = consumer.offsets_for_times(asked, timeout=TIMEOUT_S)
    return {tp.partition: tp.offset if tp.offset >= 0 else 2**62 for tp in found}
