"""Synthetic alerts in the topic's exact format, to exercise the service without the streaming job
(tests, the benchmark, a dashboard demo)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from fraudguard.config.model import SimulatorSettings
from fraudguard.schemas import ALERT
from fraudguard.simulate.catalog import CATEGORIES, load_places

REASONS = (
    "amount far above this user's usual spend",
    "merchant with a high recent fraud rate",
    "impossible travel since the previous in-store payment",
    "many payments in the last hour",
    "new device network for this user",
)


def sample_alerts(count: int, seed: int = 0, start: datetime | None = None) -> tuple[list[str], list[bytes]]:
    """`count` alerts as the streaming job publishes them: (keys, JSON values), one second apart."""
    rng = random.Random(seed)
    places = load_places(SimulatorSettings().countries)
    start = start or datetime.now(UTC) - timedelta(seconds=count)
    rows = []
    for i in range(count):
        place = rng.randrange(len(places))
        scored_at = start + timedelta(seconds=i)
        transaction_id = str(uuid.UUID(int=rng.getrandbits(128)))
        rows.append(
            {
                "alert_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{transaction_id}/1")),
                "transaction_id": transaction_id,
                "user_id": f"U{rng.randrange(5000):06d}",
                "merchant_id": f"M{rng.randrange(1000):05d}",
                "amount": round(rng.uniform(5, 3000), 2),
                "currency": "EUR",
                "event_time": int((scored_at - timedelta(seconds=2)).timestamp() * 1000),
                "score": round(rng.uniform(0.5, 1.0), 4),
                "threshold": 0.5,
                "model_name": "fraud-detector",
                "model_version": "1",
                "reasons": rng.sample(REASONS, 2),
                "merchant_category": rng.choice(CATEGORIES).name,
                "country": str(places.country[place]),
                "lat": float(places.lat[place]),
                "lon": float(places.lon[place]),
                "scored_at": int(scored_at.timestamp() * 1000),
            }
        )
    table = pa.Table.from_pylist(rows, schema=ALERT.arrow())
    return ALERT.encode(table)
