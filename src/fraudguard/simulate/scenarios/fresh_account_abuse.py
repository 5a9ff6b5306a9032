from __future__ import annotations

import numpy as np

from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.scenarios.base import Scenario, burst, categories, merchants_for, typical_amount_log
from fraudguard.simulate.world import DAY_MS

TARGETS = categories("electronics", "jewelry", "gift_cards", "travel", "online_retail")


class FreshAccountAbuse(Scenario):
    """A synthetic identity opens an account and spends as much as it can before anyone notices."""

    name = "fresh_account_abuse"
    signal = (
        "an account only hours old makes 4-12 high-value purchases within about a day (new "
        "legitimate users sign up every day too, and spend like everyone else)"
    )

    def incident(self, day: Day) -> Columns:
        rng, world = day.rng, day.world
        signup_ms = day.start_ms + int(rng.integers(0, DAY_MS))
        user = int(world.add_users(np.array([signup_ms]), synthetic=True)[0])
        count = int(rng.integers(4, 13))
        category = rng.choice(TARGETS, size=count)
        first_ms = signup_ms + int(rng.uniform(5, 120) * 60_000)
        return transactions(
            user=np.full(count, user),
            merchant=merchants_for(day, category, int(world.users.place[user])),
            ts_ms=burst(first_ms, count, 2 * 3600, rng),
            amount=np.exp(typical_amount_log(day, user, category) + rng.normal(0.5, 0.4, count)),
            ip=day.user_device(np.full(count, user)),
            scenario=self.name,
        )
