"""Webhook channel: one HTTP POST of the alert's JSON per alert."""

from __future__ import annotations

from typing import Any

import httpx

from fraudguard.alerts.notify.channel import alert_json
from fraudguard.config.model import WebhookSettings
from fraudguard.redact import url_origin


class WebhookChannel:
    name = "webhook"
    per_delivery = 1
    interval_s = 0.0

    def __init__(self, settings: WebhookSettings) -> None:
        assert settings.url, "the webhook channel needs a url"
        self.url = settings.url
        self.max_attempts = settings.max_attempts
        self.backoff_s = settings.backoff_s
        headers = {"Content-Type": "application/json", "User-Agent": "fraudguard-alerts"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        self.client = httpx.Client(timeout=settings.timeout_s, headers=headers)

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            try:
                response = self.client.post(self.url, content=alert_json(alert))
                response.raise_for_status()
            except httpx.HTTPError as error:  # its text names the URL, often the credential itself
                message = str(error).replace(self.url, url_origin(self.url)).splitlines()[0]
                raise WebhookError(message) from None


class WebhookError(RuntimeError):
    """A failed delivery, said without the webhook's URL."""
