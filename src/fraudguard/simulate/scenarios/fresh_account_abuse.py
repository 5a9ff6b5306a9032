from __future__ import annotations

import numpy as np

from fraudguard.simulate.catalog import ONLINE
from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.scenarios.base import Scenario, burst, categories, merchants_for, typical_amount_log
from fraudguard.simulate.world import DAY_MS

TARGETS = categories("electronics", "jewelry", "gift_cards", "travel", "online_retail")
ONLINE_GAP_S = 5 * 60  # one checkout after another, without leaving the sign-up session
IN_STORE_GAP_S = 2 * 3600
ONLINE_START_MINUTES = (1, 10)  # from the sign-up straight to the checkout
IN_STORE_START_MINUTES = (5, 120)


class FreshAccountAbuse(Scenario):
    """A synthetic identity opens an account and spends as much as it can before anyone notices."""

    name = "fresh_account_abuse"
    signal = (
        "an account only hours old makes 4-12 high-value purchases within about a day, the online ones "
        "in a run of checkouts starting 1-10 minutes after signing up (new legitimate users sign up "
        "every day too, half of them to pay for one purchase 3-45 minutes later, and then spend like "
        "everyone else)"
    )

    def incident(self, day: Day) -> Columns:
        rng, world = day.rng, day.world
        signup_ms = day.start_ms + int(rng.integers(0, DAY_MS))
        user = int(world.add_users(np.array([signup_ms]), synthetic=True)[0])
        count = int(rng.integers(4, 13))
        category = rng.choice(TARGETS, size=count)
        eagerness = rng.random()  # a fraudster quick online is quick to the shops too
        online = ONLINE[category]
        ts_ms = np.empty(count, dtype=np.int64)
        for channel, (low, high), gap_s in ((online, ONLINE_START_MINUTES, ONLINE_GAP_S),
                                            (~online, IN_STORE_START_MINUTES, IN_STORE_GAP_S)):  # fmt: skip
            start_ms = signup_ms + int((low + (high - low) * eagerness) * 60_000)
            ts_ms[channel] = burst(start_ms, int(channel.sum()), gap_s, rng)
        return transactions(
            user=np.full(count, user),
            merchant=merchants_for(day, category, int(world.users.place[user])),
            ts_ms=ts_ms,
            amount=np.exp(typical_amount_log(day, user, category) + rng.normal(0.5, 0.4, count)),
            ip=np.repeat(day.user_device(np.array([user])), count),  # the device it signed up on
            scenario=self.name,
        )
