"""End-to-end alert latency of live traffic: from a transaction's produce timestamp to its alert's.

The publisher reports each delivered transaction (its id and Kafka timestamp); a consumer of the alerts
topic (from its beginning: alerts published before the consumer joined count too) matches alerts to
them; alerts of transactions other runs sent are ignored. The development
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
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._consume, name="alert-latency", daemon=True)

    def delivered(self, error, message: Message) -> None:
        """The publisher's delivery callback for every record it sends."""
        if error is None and message.topic() == self.transactions_topic:
            transaction_id = json.loads(message.value() or b"{}")["transaction_id"]
            kind, stamp = message.timestamp()
            sent = stamp if kind == TIMESTAMP_CREATE_TIME and stamp > 0 else int(time.time() * 1000)
            with self._lock:
                self.sent_ms[transaction_id] = sent

    def start(self) -> None:
        self._thread.start()

    def stop(self, quiet_s: float = 2.0, at_most_s: float = 15.0) -> None:
        """Stop once no alert came for `quiet_s` (the last micro-batch's alerts are read first)."""
        deadline, seen = time.monotonic() + at_most_s, -1
        while time.monotonic() < deadline and seen != self.alerts:
            seen = self.alerts
            time.sleep(quiet_s)
        self._stop.set()
        self._thread.join(timeout=10)

    def percentiles(self, *quantiles: int) -> dict[str, float]:
        with self._lock:
            values = np.array(self.latencies_s)
        return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in quantiles} if len(values) else {}

    def _consume(self) -> None:
        consumer = make_consumer(self.settings, f"fraudguard-run-{uuid.uuid4().hex[:8]}",
                                 **{"auto.offset.reset": "earliest"})  # fmt: skip
        consumer.subscribe([self.settings.topics.get(TopicRole.ALERTS).name])
        try:
            while not self._stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                produced_ms = message.timestamp()[1]
                transaction_id = ALERT.decode(message.value() or b"")["transaction_id"]
                with self._lock:
                    sent = self.sent_ms.pop(transaction_id, None)
                    if sent is not None:
                        self.alerts += 1
                        self.latencies_s.append((produced_ms - sent) / 1000)
        finally:
            consumer.close()
