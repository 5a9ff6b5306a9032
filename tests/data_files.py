"""Files a team might bring, for the data import, training and replay tests."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa


def generic_table(rows: int, seed: int = 3) -> pa.Table:
    """A team's own export: its own names and order, text categories, a timestamp, an id, extra text."""
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < 0.05
    return pa.table(
        {
            "booked_at": pa.array(
                [
                    datetime(2026, 5, 1) + timedelta(minutes=int(m))
                    for m in np.sort(rng.integers(0, 60_000, rows))
                ]
            ),
            "payment_ref": [f"PAY-{i:07d}" for i in range(rows)],
            "channel": rng.choice(["web", "app", "pos"], rows),
            "value_eur": np.round(rng.lognormal(3, 1, rows) * np.where(fraud, 5, 1), 2),
            "chargeback": np.where(fraud, "yes", "no"),
            "customer_note": [f"note {rng.integers(10**6)}" for _ in range(rows)],
            "items": rng.integers(1, 9, rows),
        }
    )
