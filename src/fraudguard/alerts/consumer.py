"""Consume the fraud-alerts topic into the store: store first, then commit, so nothing is ever lost.

A batch of messages is decoded, the valid alerts are stored in one database transaction (duplicates
ignored by transaction_id), the malformed ones are sent to the dead-letter topic, and only then are the
batch's offsets committed. A crash anywhere before the commit replays the batch, which the store
absorbs. Broker outages and database errors are logged and retried; nothing here stops the loop.

A batch the store keeps refusing (`MAX_BATCH_ATTEMPTS` times) is stored alert by alert: an alert the
store refuses while it answers (e.g. text the database cannot hold) is a dead letter with the store's
reason; while the store does not answer at all, the batch waits and is retried, whole.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from fraudguard.alerts.store import AlertStore, StoreResult
from fraudguard.config import Settings, TopicRole
from fraudguard.failpoints import reached
from fraudguard.kafka.clients import make_consumer, make_producer
from fraudguard.kafka.dead_letter import DeadLetter
from fraudguard.redact import without_credentials
from fraudguard.schemas import ALERT

log = logging.getLogger("fraudguard.alerts.consumer")
POLL_TIMEOUT_S = 0.5
RETRY_WAIT_S = 2.0
MAX_BATCH_ATTEMPTS = 3
COMPONENT = "alerts"


@dataclass
class ConsumerFigures:
    """What the consumer has done since it started (shown by the API's health endpoint)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    last_batch_at: datetime | None = None
    last_error: str | None = None  # cleared by the next batch stored and committed
    last_error_at: datetime | None = None
    assigned_partitions: list[int] = field(default_factory=list)


class AlertConsumer:
    def __init__(self, settings: Settings, store: AlertStore, channels: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.store = store
        self.channels = channels
        self.topic = settings.topics.get(TopicRole.ALERTS).name
        self.dead_letter_topic = settings.topics.get(TopicRole.DEAD_LETTER).name
        self.figures = ConsumerFigures()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._failed_attempts = 0  # of the batch being retried

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; the current batch is stored and committed first."""
        self._consumer = make_consumer(
            self.settings,
            self.settings.alerts.consumer_group,
            error_cb=self._on_client_error,
        )
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._producer = make_producer(self.settings)
        log.info("consuming", extra={"topic": self.topic, "group": self.settings.alerts.consumer_group})
        try:
            while not stop.is_set():
                self.consume_batch()
        finally:
            self._consumer.close()
            self._producer.flush(10)
            log.info("consumer stopped", extra={"stored": self.figures.stored})

    def consume_batch(self) -> int:
        """One poll-store-commit round; returns how many messages it handled."""
        assert self._consumer is not None
        polled = self._consumer.consume(self.settings.alerts.batch_size, POLL_TIMEOUT_S)
        messages = [message for message in polled if not is_informational(message)]
        if not messages:
            return 0
        decoded: list[tuple[Message, dict[str, Any]]] = []
        letters: list[DeadLetter] = []
        for message in messages:
            try:
                decoded.append((message, ALERT.decode(message.value() or b"")))
            except ValueError as error:
                letters.append(DeadLetter.of(message, str(error), COMPONENT))
        try:
            if self._failed_attempts < MAX_BATCH_ATTEMPTS:
                result = self.store.add([alert for _, alert in decoded], self.channels)
            else:
                result = self._store_one_by_one(decoded, letters)
            self._send_dead_letters(letters)
        except Exception as error:  # database or broker trouble: replay this batch after a pause
            self._failed_attempts += 1
            self._rewind(messages, error)
            return 0
        self._failed_attempts = 0
        reached("alerts.after_store")
        committed_at = datetime.now(UTC)
        self._commit()
        figures = self.figures
        figures.stored += len(result.new)
        figures.duplicates += result.duplicates
        figures.dead_letters += len(letters)
        figures.batches += 1
        figures.last_batch_at = datetime.now(UTC)
        if figures.last_error_at and figures.last_error_at < committed_at:
            figures.last_error = None
        counts = {"new": len(result.new), "duplicates": result.duplicates, "dead_letters": len(letters)}
        log.info("batch stored", extra={"messages": len(messages), **counts})
        return len(messages)

    def _store_one_by_one(
        self, decoded: list[tuple[Message, dict[str, Any]]], letters: list[DeadLetter]
    ) -> StoreResult:
        """Store each alert alone; those refused by a store that answers join `letters`."""
        new: list[str] = []
        duplicates = 0
        for message, alert in decoded:
            try:
                result = self.store.add([alert], self.channels)
            except Exception as error:
                if not self.store.answers():
                    raise
                reason = without_credentials(f"refused by the alert store: {type(error).__name__}: {error}")
                letters.append(DeadLetter.of(message, reason, COMPONENT))
                continue
            new += result.new
            duplicates += result.duplicates
        return StoreResult(new=new, duplicates=duplicates)

    def _send_dead_letters(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        assert self._producer is not None
        for letter in letters:
            log.warning(
                "malformed alert sent to the dead-letter topic",
                extra={"partition": letter.partition, "offset": letter.offset, "reason": letter.reason},
            )
            self._producer.produce(self.dead_letter_topic, letter.value, letter.key, headers=letter.headers())
        if self._producer.flush(30) > 0:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "dead letters not delivered within 30 s"))

    def _commit(self) -> None:
        """Synchronous: the offsets are on the broker before the next batch. A failed commit is retried by
        the next one (it commits the positions, which include this batch); a replay meanwhile is harmless."""
        assert self._consumer is not None
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as error:
            self._failed(f"commit: {error}")
            log.warning(
                "offset commit failed; the next batch's commit covers it", extra={"error": str(error)}
            )

    def _failed(self, error: str) -> None:
        self.figures.last_error = error
        self.figures.last_error_at = datetime.now(UTC)

    def _rewind(self, messages: list[Message], error: Exception) -> None:
        """Seek back to the batch's first offset per partition so the batch is consumed again."""
        assert self._consumer is not None
        self._failed(f"{type(error).__name__}: {error}")
        log.error("could not store a batch; retrying it", extra={"error": self.figures.last_error})
        first: dict[int, int] = {}
        for message in messages:
            first.setdefault(message.partition() or 0, message.offset() or 0)
        for partition, offset in first.items():
            try:
                self._consumer.seek(TopicPartition(self.topic, partition, offset))
            except KafkaException as seek_error:  # revoked meanwhile: its new owner starts from the commit
                log.warning("seek failed", extra={"partition": partition, "error": str(seek_error)})
        time.sleep(RETRY_WAIT_S)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.figures.assigned_partitions = sorted(
            {*self.figures.assigned_partitions, *(p.partition for p in partitions)}
        )
        log.info("partitions assigned", extra={"partitions": [p.partition for p in partitions]})

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {p.partition for p in partitions}
        self.figures.assigned_partitions = [p for p in self.figures.assigned_partitions if p not in revoked]
        log.info("partitions revoked", extra={"partitions": sorted(revoked)})

    def _on_client_error(self, error: KafkaError) -> None:
        """Broker-level trouble (all brokers down, ...): librdkafka reconnects by itself; we only report."""
        self._failed(str(error))
        log.warning("kafka client error; it reconnects by itself", extra={"error": str(error)})


def is_informational(message: Message) -> bool:
    """An end-of-partition notice or a consume error (logged): no message to handle."""
    error = message.error()
    if error is None:
        return False
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consume error", extra={"error": str(error)})
    return True
