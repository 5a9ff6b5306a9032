"""The live aggregates the dashboard charts: the aggregates topic (`stream.aggregates`) held in memory.

The topic is compacted and its latest message per key is the figure, so the view reads it from the
start on every start and commits nothing: each replica of the service holds the whole view, and
keeps the latest `KEEP_WINDOWS` windows of each measure. A malformed message goes to the dead-letter
topic with its reason.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudguard.alerts.consumer import POLL_TIMEOUT_S, is_informational
from fraudguard.config import Settings, TopicRole
from fraudguard.kafka.clients import make_consumer, make_producer
from fraudguard.kafka.dead_letter import DeadLetter
from fraudguard.schemas import AGGREGATE

log = logging.getLogger("fraudguard.alerts.aggregates")
KEEP_WINDOWS = 120
COMPONENT = "alerts.aggregates"


@dataclass
class AggregateFigures:
    """What the view has read since the service started (shown by the health endpoint)."""

    read: int = 0
    dead_letters: int = 0
    last_window: datetime | None = None


class LiveAggregates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topics.get(TopicRole.AGGREGATES).name
        self.dead_letter_topic = settings.topics.get(TopicRole.DEAD_LETTER).name
        self.figures = AggregateFigures()
        self._windows: dict[str, dict[datetime, dict[int, dict[str, Any]]]] = {}  # measure, start, rank
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        """Read the topic from its start until `stop` (a group of its own, never committed)."""
        group = f"{self.settings.alerts.consumer_group}-aggregates-{uuid.uuid4().hex[:12]}"
        consumer = make_consumer(self.settings, group)
        consumer.subscribe([self.topic])
        producer = make_producer(self.settings)
        log.info("reading the live aggregates", extra={"topic": self.topic})
        try:
            while not stop.is_set():
                letters = []
                for message in consumer.consume(1000, POLL_TIMEOUT_S):
                    if is_informational(message):
                        continue
                    try:
                        self.add(AGGREGATE.decode(message.value() or b""))
                    except ValueError as error:
                        letters.append(DeadLetter.of(message, str(error), COMPONENT))
                for letter in letters:
                    log.warning(
                        "malformed aggregate sent to the dead-letter topic", extra={"reason": letter.reason}
                    )
                    producer.produce(
                        self.dead_letter_topic, letter.value, letter.key, headers=letter.headers()
                    )
                    self.figures.dead_letters += 1
                if letters:
                    producer.flush(30)
        finally:
            consumer.close()
            producer.flush(10)

    def add(self, figure: dict[str, Any]) -> None:
        start = figure["window_start"]
        with self._lock:
            windows = self._windows.setdefault(figure["measure"], {})
            windows.setdefault(start, {})[figure["rank"]] = figure
            while len(windows) > KEEP_WINDOWS:
                del windows[min(windows)]
            self.figures.read += 1
            self.figures.last_window = max(self.figures.last_window or start, start)

    def latest(self, measure: str, count: int) -> list[dict[str, Any]]:
        """The latest `count` windows of `measure`, oldest first, each with its ranks."""
        with self._lock:
            windows = self._windows.get(measure, {})
            return [
                {
                    "start": start,
                    "end": next(iter(ranks.values()))["window_end"],
                    "ranks": [
                        {key: ranks[rank][key] for key in ("rank", "product_id", "count")}
                        for rank in sorted(ranks)
                    ],
                }
                for start, ranks in sorted(windows.items())[-count:]
            ]
