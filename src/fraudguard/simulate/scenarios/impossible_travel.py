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

EVERYDAY = categories("grocery", "cafe", "restaurant", "fuel")
TARGETS = categories("electronics", "jewelry", "clothing", "restaurant")


class ImpossibleTravel(Scenario):
    """A cloned card is used in person in a far-away city shortly after the real holder paid at home."""

    name = "impossible_travel"
    signal = (
        "the previous transaction was minutes to an hour earlier, 1,500+ km away: the implied speed "
        "is faster than any flight (legitimate trips also move far, but over many hours)"
    )

    def incident(self, day: Day) -> Columns:
        rng, users = day.rng, day.world.users
        victim = day.victim()
        home_ms = day.start_ms + int(rng.integers(7 * 3_600_000, DAY_MS - 3 * 3_600_000))
        home_category = rng.choice(EVERYDAY, size=1)
        genuine = transactions(
            user=np.array([victim]),
            merchant=merchants_for(day, home_category, int(users.place[victim])),
            ts_ms=np.array([home_ms]),
            amount=np.exp(typical_amount_log(day, victim, home_category)),
            ip=day.user_device(np.array([victim])),
        )
        count = int(rng.integers(1, 4))
        category = rng.choice(TARGETS, size=count)
        place = far_place(day, users.lat[victim], users.lon[victim], min_km=1500)
        gap_ms = int(rng.uniform(10, 90) * 60_000)
        ip = random_ips(rng, 1) if rng.random() < 0.5 else day.user_device(np.array([victim]))
        cloned = transactions(
            user=np.full(count, victim),
            merchant=merchants_for(day, category, place),
            ts_ms=burst(home_ms + gap_ms, count, 20 * 60, rng),
            amount=np.exp(typical_amount_log(day, victim, category) + 0.4),
            ip=np.repeat(ip, count),
            scenario=self.name,
        )
        return Columns.concat([genuine, cloned])
