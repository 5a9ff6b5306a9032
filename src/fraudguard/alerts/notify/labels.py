"""Analysts' verdicts to the labels topic: the feedback the risk features and the nightly training read.

A verdict is queued in the outbox in the same database transaction as the review, and this channel
publishes the alert's verdict as it stands when delivered (a verdict changed twice is sent once, as
last set; one taken back before delivery is not sent).
"""

from __future__ import annotations

from typing import Any

from fraudguard.alerts.store import LABELS_CHANNEL, VERDICTS, AlertStore, ReviewStatus
from fraudguard.config import Settings, TopicRole
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.dead_letter import Headers
from fraudguard.schemas import LABEL, REVIEW, SCHEMA_HEADER

FLUSH_TIMEOUT_S = 10.0


class LabelChannel:
    name = LABELS_CHANNEL
    per_delivery = 100
    interval_s = 0.0
    max_attempts = 20
    backoff_s = 1.0

    def __init__(self, settings: Settings, store: AlertStore) -> None:
        self.store = store
        self.topic = settings.topics.get(TopicRole.LABELS).name
        self.producer = make_producer(settings)

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        records = [self.store.get(alert["transaction_id"]) for alert in alerts]
        verdicts = [r for r in records if r is not None and ReviewStatus(r["status"]) in VERDICTS]
        if not verdicts:
            return
        table = LABEL.table(
            transaction_id=[r["transaction_id"] for r in verdicts],
            merchant_id=[r["merchant_id"] for r in verdicts],
            event_time=[_epoch_ms(r["event_time"]) for r in verdicts],
            is_fraud=[r["status"] == ReviewStatus.CONFIRMED_FRAUD for r in verdicts],
            source=[REVIEW] * len(verdicts),
            reported_at=[_epoch_ms(r["reviewed_at"]) for r in verdicts],
        )
        headers: Headers = [(SCHEMA_HEADER, LABEL.tag.encode())]
        for key, value in zip(*LABEL.encode(table), strict=True):
            self.producer.produce(self.topic, value=value, key=key, headers=headers)
        if self.producer.flush(FLUSH_TIMEOUT_S) > 0:
            raise RuntimeError(f"the labels topic {self.topic} did not acknowledge every verdict")


def _epoch_ms(moment: Any) -> int:
    return round(moment.timestamp() * 1000)
