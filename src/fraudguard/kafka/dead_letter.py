"""The dead-letter format every platform component uses: the original message, untouched, plus why.

A dead letter keeps the rejected message's key and value bytes exactly (so it can be inspected and
replayed as it was) and carries the reason and the message's origin in headers, as Kafka Connect does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message

Headers = list[tuple[str, str | bytes | None]]
"""Kafka record headers as the producer takes them."""

REASON, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, COMPONENT, FAILED_AT = (
    "dead_letter.reason",
    "dead_letter.topic",
    "dead_letter.partition",
    "dead_letter.offset",
    "dead_letter.component",
    "dead_letter.failed_at",
)


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    reason: str
    topic: str
    partition: int
    offset: int
    component: str

    @classmethod
    def of(cls, message: Message, reason: str, component: str) -> DeadLetter:
        """A consumed message, rejected for `reason` by `component`."""
        return cls(
            key=message.key(),
            value=message.value(),
            reason=reason,
            topic=message.topic() or "",
            partition=message.partition() or 0,
            offset=message.offset() or 0,
            component=component,
        )

    def headers(self, failed_at: datetime | None = None) -> Headers:
        when = (failed_at or datetime.now(UTC)).isoformat(timespec="milliseconds")
        return [
            (REASON, self.reason.encode()),
            (SOURCE_TOPIC, self.topic.encode()),
            (SOURCE_PARTITION, str(self.partition).encode()),
            (SOURCE_OFFSET, str(self.offset).encode()),
            (COMPONENT, self.component.encode()),
            (FAILED_AT, when.encode()),
        ]


def read_headers(headers: Headers | dict[str, str | bytes | None] | None) -> dict[str, str]:
    """The dead-letter headers of a consumed message as text (for `tail`, tests and replays)."""
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    return {
        key: value.decode() if isinstance(value, bytes) else str(value)
        for key, value in pairs
        if key.startswith("dead_letter.")
    }
