"""What a notification channel is: a name, how much it sends at once, how often, and how it retries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from fraudguard.schemas import format_timestamp


class Channel(Protocol):
    name: str
    per_delivery: int  # alerts per delivery: 1 for a webhook, many for a digest
    interval_s: float  # at most one delivery round per interval (0: whenever something is due)
    max_attempts: int
    backoff_s: float

    def deliver(self, alerts: list[dict[str, Any]]) -> None:
        """Send; raise on failure (the dispatcher retries with backoff)."""


def alert_json(alert: dict[str, Any]) -> bytes:
    """The alert as the topic carries it: compact JSON, timestamps in ISO-8601 UTC."""
    return json.dumps(alert, default=_iso, separators=(",", ":")).encode()


def alert_line(alert: dict[str, Any]) -> str:
    """One alert on one line, for people: e-mail digests and `alerts tail` (what it lacks is left out)."""
    parts = [f"{alert['scored_at']:%Y-%m-%d %H:%M:%S}Z score {alert['score']:.3f} {alert['transaction_id']}"]
    if alert.get("amount") is not None:
        parts.append(f"{alert['amount']:.2f} {alert.get('currency') or ''}".rstrip())
    parts += [f"{who} {alert[f'{who}_id']}" for who in ("user", "merchant") if alert.get(f"{who}_id")]
    return " ".join(parts)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
