"""End-to-end alert latency of live traffic: from a transaction's produce timestamp to its alert's.

The publisher reports each delivered transaction (its id and Kafka timestamp); a consumer of the alerts
topic, reading only what arrives after the run started, matches alerts to them. The development
broker's delivery reports carry no usable timestamp, so there the acknowledgement time stands in for
the produce time (later by at most the producer's linger, 20 ms: latency is understated by that).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from fraudguard.config import Settings, TopicRole
from fraudguard.kafka.clients import make_consumer
from fraudguard.schemas import ALERT


class AlertLatency:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.transactions_topic = settings.topics.get(TopicRole.TRANSACTIONS).name
        self.sent_ms: dict[str, int] = {}
        self.latencies_s: list[float] = []
        self.alerts = 0
        self.first_alert_ms: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="alert-latency", daemon=True)

    def delivered(self, error, message: Message) -> None:
        """The publisher's delivery callback for every record it sends."""
        if error is None and message.topic() == self.transactions_topic:
            transaction_id = json.loads(message.value())["transaction_id"]
            kind, stamp = message.timestamp()
            sent = stamp if kind == TIMESTAMP_CREATE_TIME and stamp > 0 else int(time.time() * 1000)
            with self._lock:
                self.sent_ms[transaction_id] = sent

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def percentiles(self, *quantiles: int) -> dict[str, float]:
        with self._lock:
            values = np.array(self.latencies_s)
        return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in quantiles} if len(values) else {}

    def _consume(self) -> None:
        consumer = make_consumer(self.settings, f"fraudguard-run-{uuid.uuid4().hex[:8]}",
                                 **{"auto.offset.reset": "latest"})  # fmt: skip
        consumer.subscribe([self.settings.topics.get(TopicRole.ALERTS).name])
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                produced_ms = message.timestamp()[1]
                transaction_id = ALERT.decode(message.value())["transaction_id"]
                with self._lock:
                    self.alerts += 1
                    self.first_alert_ms = self.first_alert_ms or produced_ms
                    sent = self.sent_ms.pop(transaction_id, None)
                    if sent is not None:
                        self.latencies_s.append((produced_ms - sent) / 1000)
        finally:
            consumer.close()
