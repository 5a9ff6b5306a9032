"""One simulated day: the merchants open that day, indexed for fast picking, and transaction chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudguard.simulate.catalog import CATEGORIES, ONLINE
from fraudguard.simulate.columns import Columns
from fraudguard.simulate.world import DAY_MS, World

N_CATEGORIES = len(CATEGORIES)


class MerchantPools:
    """Merchants open by a given time, looked up by (place, category) or by category anywhere."""

    def __init__(self, world: World, open_at_ms: int) -> None:
        merchants = world.merchants
        open_ = np.flatnonzero(merchants.created_ms <= open_at_ms)
        local_key = merchants.place[open_] * N_CATEGORIES + merchants.category[open_]
        order = np.argsort(local_key, kind="stable")
        self._local_ids, self._local_keys = open_[order], local_key[order]
        order = np.argsort(merchants.category[open_], kind="stable")
        self._any_ids, self._any_keys = open_[order], merchants.category[open_][order]
        self._nearest, self._nearest_km = self._nearest_place_with(
            world, merchants.place[open_], merchants.category[open_]
        )

    @staticmethod
    def _nearest_place_with(
        world: World, places: np.ndarray, categories: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each (place, category): the nearest place with an open merchant of that category, and
        how far it is (infinite when no place has one)."""
        distance = world.place_distance_km
        nearest = np.zeros((len(distance), N_CATEGORIES), dtype=np.int64)
        nearest_km = np.full((len(distance), N_CATEGORIES), np.inf)
        for category in range(N_CATEGORIES):
            having = np.unique(places[categories == category])
            if len(having):
                nearest[:, category] = having[np.argmin(distance[:, having], axis=1)]
                nearest_km[:, category] = distance[np.arange(len(distance)), nearest[:, category]]
        return nearest, nearest_km

    def in_store_within(self, place: np.ndarray, km: float) -> np.ndarray:
        """Per place (rows): the in-store categories with an open shop within `km` of it."""
        return ~ONLINE & (self._nearest_km[place] <= km)

    def local(self, place: np.ndarray, category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A merchant of `category` in `place`, or in the nearest place that has one."""
        near = self._nearest[place, category]
        return self._pick(self._local_ids, self._local_keys, near * N_CATEGORIES + category, rng)

    def anywhere(self, category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        picked = self._pick(self._any_ids, self._any_keys, category, rng)
        if (picked < 0).any():
            raise ValueError("a merchant category has no open merchant")
        return picked

    @staticmethod
    def _pick(ids: np.ndarray, keys: np.ndarray, wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        low = np.searchsorted(keys, wanted, side="left")
        high = np.searchsorted(keys, wanted, side="right")
        offset = (rng.random(len(wanted)) * (high - low)).astype(np.int64)
        return np.where(high > low, ids[np.minimum(low + offset, len(ids) - 1)], -1)


@dataclass
class Day:
    """What a scenario or the legitimate behaviour needs to generate one day's transactions."""

    world: World
    pools: MerchantPools
    start_ms: int
    rng: np.random.Generator

    @property
    def end_ms(self) -> int:
        return self.start_ms + DAY_MS

    def established_users(self) -> np.ndarray:
        """Real (not fraudster-made) users whose account existed before the day began."""
        users = self.world.users
        return np.flatnonzero(~users.synthetic & (users.signup_ms < self.start_ms))

    def victim(self) -> int:
        """A real user, chosen at random, whose account existed before the day."""
        return int(self.rng.choice(self.established_users()))

    def user_device(self, users: np.ndarray) -> np.ndarray:
        """One of each user's own devices."""
        slot = (self.rng.random(len(users)) * self.world.users.n_devices[users]).astype(np.int64)
        return self.world.users.devices[users, slot]


def transactions(
    user: np.ndarray,
    merchant: np.ndarray,
    ts_ms: np.ndarray,
    amount: np.ndarray,
    ip: np.ndarray,
    scenario: str | None = None,
) -> Columns:
    """A chunk of transactions, all legitimate (scenario None) or all from one fraud scenario."""
    count = len(user)
    return Columns(
        user=np.asarray(user, dtype=np.int64),
        merchant=np.asarray(merchant, dtype=np.int64),
        ts_ms=np.asarray(ts_ms, dtype=np.int64),
        amount=np.maximum(np.round(np.asarray(amount, dtype=np.float64), 2), 0.01),
        ip=np.asarray(ip, dtype=object),
        fraud=np.full(count, scenario is not None),
        scenario=np.full(count, scenario, dtype=object),
    )
