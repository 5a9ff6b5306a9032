"""The Faker world's population: users with spending profiles and merchants, as growable numpy columns.

Faker supplies what should look real (places, company names, IP addresses); numpy draws the behaviour,
so generation stays fast. Everything comes from one seeded numpy Generator and one seeded Faker, in a
fixed order, so the same seed and settings give the same world.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from faker import Faker

from fraudguard.config.model import SimulatorSettings
from fraudguard.geo import haversine_km
from fraudguard.schemas import MERCHANT, USER
from fraudguard.simulate.catalog import CATEGORIES, ONLINE, POPULARITY, Places, currency_of, load_places
from fraudguard.simulate.columns import Columns

DAY_MS = 86_400_000
MAX_DEVICES = 3
GENDERS = np.array(["F", "M", "X"], dtype=object)


def random_ips(rng: np.random.Generator, count: int) -> np.ndarray:
    """Public-looking IPv4 addresses a user has never used (fraudsters' devices, new phones)."""
    octets = rng.integers([11, 0, 0, 1], [224, 256, 256, 255], size=(count, 4))
    return np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in octets], dtype=object)


class World:
    """Places, users and merchants; users and merchants are appended as the simulation runs."""

    def __init__(self, settings: SimulatorSettings, rng: np.random.Generator, faker: Faker) -> None:
        self.settings = settings
        self.rng = rng
        self.faker = faker
        self.places: Places = load_places(settings.countries)
        # People (and so shops) concentrate in a few big places: Zipf-like weights over places.
        ranks = rng.permutation(len(self.places)) + 1
        self.place_weights = 1.0 / ranks**0.9
        self.place_weights /= self.place_weights.sum()
        self.currency_by_place = np.array([currency_of(c) for c in self.places.country], dtype=object)
        places = self.places
        self.place_distance_km = haversine_km(
            places.lat[:, None], places.lon[:, None], places.lat[None, :], places.lon[None, :]
        )
        self.users = self._new_users(0)
        self.merchants = self._new_merchants(0)

    # -- users ---------------------------------------------------------------------------------

    def add_users(self, signup_ms: np.ndarray, synthetic: bool = False) -> np.ndarray:
        """Create users signed up at `signup_ms`; returns their indices."""
        first = len(self.users)
        users = self._new_users(len(signup_ms))
        users.signup_ms[:] = signup_ms
        users.updated_ms[:] = signup_ms
        users.synthetic[:] = synthetic
        self.users.extend(users)
        return np.arange(first, first + len(signup_ms))

    def _new_users(self, count: int) -> Columns:
        rng, first = self.rng, len(getattr(self, "users", ()))
        place = rng.choice(len(self.places), size=count, p=self.place_weights)
        lat, lon = self._near(place, 0.08)
        affinity = rng.dirichlet(np.full(len(CATEGORIES), 0.6), size=count) * 0.6 + POPULARITY * 0.4
        n_devices = rng.integers(1, MAX_DEVICES + 1, size=count)
        devices = np.full((count, MAX_DEVICES), None, dtype=object)
        for row, used in enumerate(n_devices):
            devices[row, :used] = [self.faker.ipv4_public() for _ in range(used)]
        return Columns(
            id=np.array([f"{self.settings.id_prefix}u{first + i:07d}" for i in range(count)], dtype=object),
            age=np.clip(rng.normal(42, 15, count), 18, 90).astype(np.int32),
            gender=rng.choice(GENDERS, size=count, p=[0.49, 0.49, 0.02]),
            place=place,
            lat=lat,
            lon=lon,
            signup_ms=np.zeros(count, dtype=np.int64),
            updated_ms=np.zeros(count, dtype=np.int64),
            synthetic=np.zeros(count, dtype=bool),
            # Spending profile: how much, how often, when, on what, from which devices.
            amount_offset=rng.normal(0.0, 0.35, count),
            daily_rate=rng.gamma(2.0, 1.25, count),
            peak_hour=np.clip(rng.normal(14.5, 3.0, count), 7, 22),
            hour_spread=rng.uniform(2.0, 4.5, count),
            category_taste=affinity / affinity.sum(axis=1, keepdims=True),
            devices=devices,
            n_devices=n_devices,
            trip_place=np.full(count, -1),
            trip_end_ms=np.zeros(count, dtype=np.int64),
        )

    def move(self, users: np.ndarray, at_ms: int) -> None:
        """Users move to another place: their record changes from `at_ms` on."""
        place = self.rng.choice(len(self.places), size=len(users), p=self.place_weights)
        lat, lon = self._near(place, 0.08)
        self.users.place[users], self.users.lat[users], self.users.lon[users] = place, lat, lon
        self.users.updated_ms[users] = at_ms

    # -- merchants -----------------------------------------------------------------------------

    def add_merchants(self, created_ms: np.ndarray) -> np.ndarray:
        first = len(self.merchants)
        merchants = self._new_merchants(len(created_ms))
        merchants.created_ms[:] = created_ms
        merchants.updated_ms[:] = created_ms
        self.merchants.extend(merchants)
        return np.arange(first, first + len(created_ms))

    def _new_merchants(self, count: int) -> Columns:
        rng, first = self.rng, len(getattr(self, "merchants", ()))
        # Every category is represented; beyond that, shops follow what people buy.
        category = rng.choice(len(CATEGORIES), size=count, p=POPULARITY)
        category[: min(count, len(CATEGORIES))] = np.arange(min(count, len(CATEGORIES)))
        place = rng.choice(len(self.places), size=count, p=self.place_weights)
        lat, lon = self._near(place, 0.05)
        return Columns(
            id=np.array([f"{self.settings.id_prefix}m{first + i:06d}" for i in range(count)], dtype=object),
            name=np.array([self.faker.company() for _ in range(count)], dtype=object),
            category=category,
            online=ONLINE[category],
            place=place,
            lat=lat,
            lon=lon,
            created_ms=np.zeros(count, dtype=np.int64),
            updated_ms=np.zeros(count, dtype=np.int64),
        )

    def _near(self, place: np.ndarray, spread_deg: float) -> tuple[np.ndarray, np.ndarray]:
        jitter = self.rng.normal(0.0, spread_deg, size=(2, len(place)))
        return self.places.lat[place] + jitter[0], self.places.lon[place] + jitter[1]

    # -- records -------------------------------------------------------------------------------

    def user_records(self, users: np.ndarray) -> pa.Table:
        u, places = self.users[users], self.places
        return USER.table(
            user_id=u.id,
            age=u.age,
            gender=u.gender,
            city=places.city[u.place],
            country=places.country[u.place],
            lat=np.round(u.lat, 5),
            lon=np.round(u.lon, 5),
            signup_date=u.signup_ms,
            updated_at=u.updated_ms,
        )

    def merchant_records(self, merchants: np.ndarray) -> pa.Table:
        m, places = self.merchants[merchants], self.places
        return MERCHANT.table(
            merchant_id=m.id,
            name=m.name,
            category=[CATEGORIES[c].name for c in m.category],
            city=places.city[m.place],
            country=places.country[m.place],
            lat=np.round(m.lat, 5),
            lon=np.round(m.lon, 5),
            created_at=m.created_ms,
            updated_at=m.updated_ms,
        )
