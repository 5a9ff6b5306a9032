"""Move a consumer group's committed offsets: what `kafka-consumer-groups --reset-offsets` does, for
replaying a topic into a service whose writes are idempotent (the alert store keeps one row per alert).

The group must have no active member: a running member would commit its own position over the new one
(a real Kafka also rejects the commit). Offsets are clamped to what the topic still retains.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from fraudguard.config import Settings
from fraudguard.kafka.clients import make_consumer

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


def parse_start(value: str) -> int | None:
    """`earliest` (None) or an offset >= 0; a ValueError says what was expected."""
    if value == EARLIEST:
        return None
    if value.isdigit():
        return int(value)
    raise ValueError(f"expected 'earliest' or an offset (an integer >= 0), got {value!r}")


def rewind_group(
    settings: Settings, group_id: str, topic: str, start: int | None, partitions: list[int] | None = None
) -> list[Rewound]:
    """Commit `start` (None: the earliest retained offset) for `partitions` (default: all of the topic's)
    as `group_id`'s position in `topic`. Raises ValueError for an unknown topic or partition."""
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
        rewound, offsets = [], []
        for position in committed:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, position.partition), timeout=TIMEOUT_S
            )
            after = low if start is None else min(max(start, low), high)
            before = position.offset if position.offset >= 0 else None
            rewound.append(Rewound(position.partition, before, after, low, high))
            offsets.append(TopicPartition(topic, position.partition, after))
        for result in consumer.commit(offsets=offsets, asynchronous=False) or []:
            if result.error is not None:
                raise KafkaException(result.error)
        return rewound
    finally:
        consumer.close()
