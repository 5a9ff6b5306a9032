"""What every fraud scenario is: a named generator of incidents with a documented signal."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from fraudguard.geo import haversine_km
from fraudguard.simulate.catalog import AMOUNT_MU, AMOUNT_SIGMA, CATEGORY_INDEX, ONLINE
from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day


class Scenario(ABC):
    """One kind of fraud. `incident` returns one incident's transactions (they may run past the day;
    the timeline carries them over). `signal` says what gives it away: only a system that joins users
    and merchants and looks at each user's recent behaviour can see it."""

    name: ClassVar[str]
    signal: ClassVar[str]

    @abstractmethod
    def incident(self, day: Day) -> Columns: ...


def categories(*names: str) -> np.ndarray:
    return np.array([CATEGORY_INDEX[name] for name in names])


def burst(start_ms: int, count: int, mean_gap_s: float, rng: np.random.Generator) -> np.ndarray:
    """Event times starting at `start_ms`, gaps drawn from an exponential distribution."""
    gaps = rng.exponential(mean_gap_s * 1000, count)
    gaps[:1] = 0
    return start_ms + np.cumsum(gaps).astype(np.int64)


def typical_amount_log(day: Day, user: int | np.ndarray, category: np.ndarray) -> np.ndarray:
    """The log of what this user would usually spend in these categories, with natural spread."""
    offset = day.world.users.amount_offset[user]
    return AMOUNT_MU[category] + offset + AMOUNT_SIGMA[category] * day.rng.standard_normal(len(category))


def merchants_for(day: Day, category: np.ndarray, place: int) -> np.ndarray:
    """Online categories from anywhere, the rest from `place` (or anywhere if it has none)."""
    merchant = np.empty(len(category), dtype=np.int64)
    online = ONLINE[category]
    merchant[online] = day.pools.anywhere(category[online], day.rng)
    merchant[~online] = day.pools.local(np.full((~online).sum(), place), category[~online], day.rng)
    return merchant


def far_place(day: Day, lat: float, lon: float, min_km: float) -> int:
    """A place at least `min_km` away (the farthest one if none is that far)."""
    places = day.world.places
    distance = haversine_km(lat, lon, places.lat, places.lon)
    far = np.flatnonzero(distance >= min_km)
    if len(far) == 0:
        return int(np.argmax(distance))
    weights = day.world.place_weights[far]
    return int(day.rng.choice(far, p=weights / weights.sum()))
