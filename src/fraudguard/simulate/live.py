"""Live mode: a timeline published to Kafka at a target rate, as the platform's real-time traffic.

Users and merchants go first (keyed by id; the latest record wins) and are flushed to the broker
before any transaction that may use them; so are the labels reported that day (chargebacks, keyed by
transaction_id). Transactions follow, keyed by user_id, paced to the target rate, each after the
browsing events (keyed by session_id) that happened before it. Event time is the
simulated clock in each record; the Kafka timestamp is when it was sent, so end-to-end latency can
be measured from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import Producer

from fraudguard.config import Settings, TopicRole
from fraudguard.config.model import SimulatorSettings
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.dead_letter import Headers
from fraudguard.schemas import (
    LABEL,
    MERCHANT,
    SCHEMA_HEADER,
    SESSION_EVENT,
    TRANSACTION,
    USER,
    RecordSchema,
)
from fraudguard.simulate.batch import Timeline

SLICES_PER_SECOND = 200  # pacing granularity
PROGRESS_EVERY_S = 0.25


def live_world(
    base: SimulatorSettings, start_date: date | None = None, **overrides: Any
) -> SimulatorSettings:
    """The world live traffic plays: from today (UTC) without end, and with `base.seed + 1` unless a
    seed is given, so live traffic is never a replay of the batch datasets a model was trained on.
    Raises pydantic's ValidationError for an invalid override."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return SimulatorSettings.model_validate(
        {
            **base.model_dump(),
            "seed": base.seed + 1,
            "days": 10**6,
            "start_date": start_date or datetime.now(UTC).date(),
            **chosen,
        }
    )


@dataclass
class LiveReport:
    """What was generated and what the broker acknowledged, per topic."""

    generated: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    elapsed_s: float = 0.0
    simulated_until: str = ""

    @property
    def achieved_rate(self) -> float:
        return self.transactions / self.elapsed_s if self.elapsed_s else 0.0


@dataclass(frozen=True)
class Pace:
    """Transactions at `rate` per second, counted from `sent_before` at `since` (perf_counter)."""

    rate: float
    since: float
    sent_before: int = 0

    def due(self, sent: int) -> float:
        """When the `sent`-th transaction is due."""
        return self.since + (sent - self.sent_before) / self.rate


class LivePublisher:
    def __init__(
        self,
        settings: Settings,
        producer: Producer | None = None,
        on_delivered: Callable[[Any, Any], None] | None = None,
        transactions: RecordSchema = TRANSACTION,
        topics: dict[TopicRole, str] | None = None,
    ) -> None:
        """`transactions` and `topics`: another kind of row to pace (an imported dataset's, with its
        own topics by role) instead of the world's transactions."""
        self.producer = producer or make_producer(settings, **{"linger.ms": 20})
        self.on_delivered = on_delivered
        self.transactions = transactions
        names = {role: settings.topics.get(role).name for role in TopicRole} | (topics or {})
        self.topics = {
            USER.name: names[TopicRole.USERS],
            MERCHANT.name: names[TopicRole.MERCHANTS],
            transactions.name: names[TopicRole.TRANSACTIONS],
            LABEL.name: names[TopicRole.LABELS],
            SESSION_EVENT.name: names[TopicRole.SESSIONS],
        }
        self.report = LiveReport()
        self._stop = False
        self._new_rate: float | None = None

    def stop(self) -> None:
        self._stop = True

    def set_rate(self, rate: float) -> None:
        """Pace the transactions at `rate` from now on (a running `run` picks it up at its next slice)."""
        self._new_rate = rate

    def run(
        self,
        timeline: Timeline,
        rate: float,
        duration_s: float | None,
        on_progress: Callable[[LiveReport], None] | None = None,
    ) -> LiveReport:
        users, merchants = timeline.initial()
        self._send(USER, users)
        self._send(MERCHANT, merchants)
        self.producer.flush()  # also waits for a broker still starting: the traffic's clock starts after
        started = time.perf_counter()
        deadline = started + duration_s if duration_s else None
        sent_transactions, next_progress = 0, started
        pace = Pace(rate, started)
        for batch in timeline.days():
            self._send(USER, batch.users)
            self._send(MERCHANT, batch.merchants)
            self._send(LABEL, batch.labels)
            self.producer.flush()  # records a transaction may use are on the broker before it
            keys, values = self.transactions.encode(batch.transactions)
            browsing = _Browsing(batch.sessions, batch.transactions)
            low = 0
            while low < len(values):
                if self._stop or (deadline and time.perf_counter() >= deadline):
                    return self._finish(started)
                if (new_rate := self._new_rate) is not None:
                    self._new_rate, pace = None, Pace(new_rate, time.perf_counter(), sent_transactions)
                step = max(1, int(pace.rate / SLICES_PER_SECOND))
                self._produce(SESSION_EVENT, *browsing.until(low + step))
                self._produce(self.transactions, keys[low : low + step], values[low : low + step])
                sent_transactions += len(values[low : low + step])
                low += step
                self.report.transactions = sent_transactions
                self.report.simulated_until = str(batch.day or "")
                # poll() returns as soon as it served a delivery report: wait out the whole lead.
                while (ahead := pace.due(sent_transactions) - time.perf_counter()) > 0:
                    self.producer.poll(ahead)
                if on_progress and time.perf_counter() >= next_progress:
                    self.report.elapsed_s = time.perf_counter() - started
                    on_progress(self.report)
                    next_progress += PROGRESS_EVERY_S
        return self._finish(started)

    def _finish(self, started: float) -> LiveReport:
        self.producer.flush()
        self.report.elapsed_s = time.perf_counter() - started
        return self.report

    def _send(self, schema: RecordSchema, table) -> None:
        if table.num_rows:
            self._produce(schema, *schema.encode(table))

    def _produce(self, schema: RecordSchema, keys: list[str], values: list[bytes]) -> None:
        if not values:
            return
        topic = self.topics[schema.name]
        headers: Headers = [(SCHEMA_HEADER, schema.tag.encode())]
        report = self.report
        report.generated[topic] = report.generated.get(topic, 0) + len(values)
        for key, value in zip(keys, values, strict=True):
            while True:
                try:
                    self.producer.produce(
                        topic, value=value, key=key, headers=headers, on_delivery=self._delivered
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self.producer.poll(0)

    def _delivered(self, error, message) -> None:
        counts = self.report.failed if error else self.report.delivered
        counts[message.topic()] = counts.get(message.topic(), 0) + 1
        if self.on_delivered:
            self.on_delivered(error, message)


class _Browsing:
    """A day's session events, handed out in time order up to each transaction that follows them."""

    def __init__(self, events: pa.Table | None, transactions: pa.Table) -> None:
        self.keys, self.values = SESSION_EVENT.encode(events) if events is not None else ([], [])
        self.event_ms = events["event_time"].cast(pa.int64()).to_numpy() if events is not None else None
        self.transaction_ms = (
            transactions["timestamp"].cast(pa.int64()).to_numpy() if events is not None else None
        )
        self.sent = 0

    def until(self, transactions_sent: int) -> tuple[list[str], list[bytes]]:
        """The events not sent yet that happened at or before the last of the first
        `transactions_sent` transactions (all of them once the day's transactions are sent)."""
        if self.event_ms is None or self.transaction_ms is None:
            return [], []
        if transactions_sent >= len(self.transaction_ms):
            end = len(self.values)
        else:
            end = int(
                np.searchsorted(self.event_ms, self.transaction_ms[transactions_sent - 1], side="right")
            )
        low, self.sent = self.sent, max(self.sent, end)
        return self.keys[low : self.sent], self.values[low : self.sent]
