"""The world's fixed vocabulary: merchant categories with their spending patterns, places, currencies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker.providers.geo import Provider as GeoProvider


@dataclass(frozen=True)
class Category:
    name: str
    amount_mu: float  # log-amount mean: a typical amount is exp(mu)
    amount_sigma: float
    popularity: float  # how often an average user buys in it
    online: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", 3.5, 0.6, 0.22),
    Category("restaurant", 3.3, 0.5, 0.12),
    Category("cafe", 1.8, 0.45, 0.12),
    Category("fuel", 3.8, 0.35, 0.08),
    Category("transport", 2.4, 0.6, 0.07),
    Category("pharmacy", 3.0, 0.6, 0.05),
    Category("clothing", 4.1, 0.6, 0.05),
    Category("entertainment", 3.4, 0.6, 0.04),
    Category("home_improvement", 4.3, 0.7, 0.03),
    Category("electronics", 5.3, 0.8, 0.02),
    Category("jewelry", 5.6, 0.8, 0.005),
    Category("travel", 5.8, 0.7, 0.015),
    Category("online_retail", 3.7, 0.8, 0.10, online=True),
    Category("digital_goods", 2.6, 0.9, 0.05, online=True),
    Category("gift_cards", 4.0, 0.6, 0.01, online=True),
)
CATEGORY_INDEX = {category.name: index for index, category in enumerate(CATEGORIES)}
AMOUNT_MU = np.array([c.amount_mu for c in CATEGORIES])
AMOUNT_SIGMA = np.array([c.amount_sigma for c in CATEGORIES])
POPULARITY = np.array([c.popularity for c in CATEGORIES]) / sum(c.popularity for c in CATEGORIES)
ONLINE = np.array([c.online for c in CATEGORIES])

CURRENCIES = {
    "US": "USD", "GB": "GBP", "CA": "CAD", "AU": "AUD", "JP": "JPY", "CH": "CHF", "IN": "INR",
    "BR": "BRL", "MX": "MXN", "CN": "CNY", "RU": "RUB", "PL": "PLN", "SE": "SEK",
}  # fmt: skip
"""Currency per country; the euro area and any unlisted country use EUR."""


def currency_of(country: str) -> str:
    return CURRENCIES.get(country, "EUR")


@dataclass(frozen=True)
class Places:
    """Real places (Faker's land coordinates) in the configured countries."""

    city: np.ndarray
    country: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.city)


def load_places(countries: list[str]) -> Places:
    wanted = set(countries)
    rows = [row for row in GeoProvider.land_coords if row[3] in wanted]
    if not rows:
        raise ValueError(f"Faker knows no places in {sorted(wanted)}")
    return Places(
        city=np.array([row[2] for row in rows], dtype=object),
        country=np.array([row[3] for row in rows], dtype=object),
        lat=np.array([float(row[0]) for row in rows]),
        lon=np.array([float(row[1]) for row in rows]),
    )
