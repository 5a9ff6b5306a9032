from __future__ import annotations

import numpy as np

from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.scenarios.base import Scenario, typical_amount_log
from fraudguard.simulate.world import DAY_MS

YOUNG_MS = 45 * DAY_MS


class CompromisedMerchant(Scenario):
    """A new merchant turns bad (colluding, or its terminals skimmed) and charges its customers' cards
    fraudulently for weeks."""

    name = "compromised_merchant"
    signal = (
        "a merchant younger than ~45 days whose transactions are fraudulent for 10-28 days: visible "
        "through the merchant's fraud rate on the chargebacks already reported, and its age; each "
        "transaction on its own looks ordinary (the customer's own device, a plausible amount)"
    )

    def incident(self, day: Day) -> Columns:
        rng, world = day.rng, day.world
        merchants = world.merchants
        young = np.flatnonzero(
            ~merchants.online
            & (merchants.created_ms <= day.start_ms)
            & (merchants.created_ms > day.start_ms - YOUNG_MS)
        )
        if len(young):
            merchant = int(rng.choice(young))
        else:
            merchant = int(
                world.add_merchants(np.array([day.start_ms + int(rng.integers(0, 6 * 3_600_000))]))[0]
            )
        days = int(rng.integers(10, 29))
        per_day = rng.poisson(1.5, days) + 1
        count = int(per_day.sum())
        day_offset = np.repeat(np.arange(days), per_day) * DAY_MS
        hours = rng.uniform(8, 21, count)
        ts_ms = np.maximum(
            day.start_ms + day_offset + (hours * 3_600_000).astype(np.int64), merchants.created_ms[merchant]
        )
        customers = self._customers(day, merchant, count)
        category = np.full(count, merchants.category[merchant])
        amount_log = typical_amount_log(day, customers, category) + rng.normal(0.4, 0.4, count)
        return transactions(
            user=customers,
            merchant=np.full(count, merchant),
            ts_ms=ts_ms,
            amount=np.exp(amount_log),
            ip=day.user_device(customers),
            scenario=self.name,
        )

    @staticmethod
    def _customers(day: Day, merchant: int, count: int) -> np.ndarray:
        """Victims are the merchant's neighbours: users living in its place when there are enough."""
        users = day.established_users()
        local = users[day.world.users.place[users] == day.world.merchants.place[merchant]]
        pool = local if len(local) >= count else users
        return day.rng.choice(pool, size=count, replace=len(pool) < count)
