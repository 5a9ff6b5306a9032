from __future__ import annotations

import numpy as np

from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.scenarios.base import Scenario, burst, categories
from fraudguard.simulate.world import DAY_MS, random_ips

TARGETS = categories("digital_goods", "online_retail")


class CardTesting(Scenario):
    """A bot checks whether stolen card details work with many tiny online payments."""

    name = "card_testing"
    signal = (
        "5-15 tiny amounts (0.50-3.00) at several different online merchants within minutes, from a "
        "device/IP never seen for this user (tiny amounts alone are common: coffee, transit, apps)"
    )

    def incident(self, day: Day) -> Columns:
        rng = day.rng
        victim = day.victim()
        count = int(rng.integers(5, 16))
        category = rng.choice(TARGETS, size=count)
        return transactions(
            user=np.full(count, victim),
            merchant=day.pools.anywhere(category, rng),
            ts_ms=burst(day.start_ms + int(rng.integers(0, DAY_MS)), count, 40, rng),
            amount=rng.uniform(0.5, 3.0, count),
            ip=np.repeat(random_ips(rng, 1), count),
            scenario=self.name,
        )
