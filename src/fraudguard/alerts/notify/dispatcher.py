"""Deliver queued notifications: due outbox entries per channel, retried with doubling backoff, given up
to the notification dead letters after the channel's maximum attempts."""

from __future__ import annotations

import logging
import threading
import time

from fraudguard.alerts.notify.channel import Channel
from fraudguard.alerts.notify.email import EmailDigestChannel
from fraudguard.alerts.notify.webhook import WebhookChannel
from fraudguard.alerts.store import AlertStore
from fraudguard.config.model import AlertsSettings
from fraudguard.redact import without_credentials

log = logging.getLogger("fraudguard.alerts.notify")
IDLE_WAIT_S = 0.5
BATCH = 200


def configured_channels(settings: AlertsSettings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.webhook.url:
        channels.append(WebhookChannel(settings.webhook))
    if settings.email.smtp_host:
        channels.append(EmailDigestChannel(settings.email))
    return channels


class Dispatcher:
    def __init__(self, store: AlertStore, channels: list[Channel]) -> None:
        self.store = store
        self.channels = channels
        self.sent = dict.fromkeys((c.name for c in channels), 0)
        self.given_up = dict.fromkeys((c.name for c in channels), 0)
        self._next_round = dict.fromkeys((c.name for c in channels), 0.0)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self.deliver_due():
                stop.wait(IDLE_WAIT_S)

    def deliver_due(self) -> int:
        """One round over the channels whose interval has passed; returns how many alerts were handled."""
        handled = 0
        for channel in self.channels:
            if time.monotonic() < self._next_round[channel.name]:
                continue
            try:
                handled += self._round(channel)
            except Exception as error:  # the database is busy or gone: try again next round
                log.error(
                    "notification round failed",
                    extra={"channel": channel.name, "error": without_credentials(str(error))},
                )
        return handled

    def _round(self, channel: Channel) -> int:
        due = self.store.due(channel.name, limit=max(BATCH, channel.per_delivery))
        if due:
            self._next_round[channel.name] = time.monotonic() + channel.interval_s
        for start in range(0, len(due), channel.per_delivery):
            group = due[start : start + channel.per_delivery]
            try:
                channel.deliver([item.alert for item in group])
            except Exception as error:
                reason = without_credentials(f"{type(error).__name__}: {error}")
                buried = self.store.failed(
                    group, channel.name, reason, channel.max_attempts, channel.backoff_s
                )
                self.given_up[channel.name] += buried
                log.warning(
                    "notification failed",
                    extra={
                        "channel": channel.name,
                        "alerts": len(group),
                        "given_up": buried,
                        "error": reason,
                    },
                )
                break  # the endpoint is likely down: the rest stays due for the next round
            else:
                self.store.delivered([item.outbox_id for item in group])
                self.sent[channel.name] += len(group)
        return len(due)
