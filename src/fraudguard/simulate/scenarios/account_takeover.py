from __future__ import annotations

import numpy as np

from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.scenarios.base import (
    Scenario,
    burst,
    categories,
    far_place,
    merchants_for,
    typical_amount_log,
)
from fraudguard.simulate.world import DAY_MS, random_ips

TARGETS = categories("online_retail", "gift_cards", "digital_goods", "electronics")


class AccountTakeover(Scenario):
    """A fraudster logs into a real user's account from their own device and cashes out fast."""

    name = "account_takeover"
    signal = (
        "a device/IP never seen for this user; merchants far from the user's home; amounts 2-6x what "
        "the user usually spends in the category; 2-6 transactions within about an hour"
    )

    def incident(self, day: Day) -> Columns:
        rng, users = day.rng, day.world.users
        victim = day.victim()
        count = int(rng.integers(2, 7))
        category = rng.choice(TARGETS, size=count, p=[0.35, 0.25, 0.15, 0.25])
        place = far_place(day, users.lat[victim], users.lon[victim], min_km=300)
        amount_log = typical_amount_log(day, victim, category) + rng.uniform(0.7, 1.8, count)
        return transactions(
            user=np.full(count, victim),
            merchant=merchants_for(day, category, place),
            ts_ms=burst(day.start_ms + int(rng.integers(0, DAY_MS)), count, 8 * 60, rng),
            amount=np.exp(amount_log),
            ip=np.repeat(random_ips(rng, 1), count),
            scenario=self.name,
        )
