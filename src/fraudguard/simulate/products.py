"""The product catalogue of the online shops: what browsing sessions view, put in a cart and buy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from faker import Faker

from fraudguard.schemas import PRODUCT
from fraudguard.simulate.catalog import AMOUNT_MU, AMOUNT_SIGMA, CATEGORY_INDEX

ITEMS = {
    "online_retail": ("headphones", "backpack", "sneakers", "blender", "desk lamp", "rain jacket",
                      "smart watch", "kettle", "novel", "yoga mat", "phone case", "board game"),
    "digital_goods": ("e-book", "game", "music album", "app subscription", "movie rental", "font pack"),
    "gift_cards": ("gift card", "e-gift card"),
}  # fmt: skip
"""What each online category sells; products are a brand with one of these."""
PRODUCTS_PER_ITEM = 8
ZIPF_EXPONENT = 1.1  # a few products take most of the views, as in any shop


@dataclass(frozen=True)
class Catalogue:
    """Products per online category, most popular first, with their popularity as probabilities."""

    product_id: np.ndarray
    name: np.ndarray
    category: np.ndarray  # category names
    price: np.ndarray
    by_category: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (product indexes, cumulative shares)

    @classmethod
    def generate(cls, seed: int) -> Catalogue:
        """Deterministic by seed, with random draws of its own (the world's are left as they are)."""
        rng = np.random.default_rng([seed, 3])
        faker = Faker()
        faker.seed_instance(seed + 3)
        ids: list[str] = []
        names: list[str] = []
        categories: list[str] = []
        prices: list[float] = []
        by_category: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for category, items in ITEMS.items():
            index = CATEGORY_INDEX[category]
            count = len(items) * PRODUCTS_PER_ITEM
            first = len(ids)
            for number in range(count):
                ids.append(f"p-{category}-{number:03d}")
                names.append(f"{faker.last_name()} {items[number % len(items)]}")
            categories += [category] * count
            log_price = AMOUNT_MU[index] + AMOUNT_SIGMA[index] * rng.standard_normal(count)
            prices += np.round(np.exp(log_price), 2).tolist()
            weights = 1.0 / np.arange(1, count + 1) ** ZIPF_EXPONENT
            by_category[category] = (np.arange(first, first + count), np.cumsum(weights) / weights.sum())
        return cls(np.array(ids), np.array(names), np.array(categories), np.array(prices), by_category)

    def pick(self, category: str, rng: np.random.Generator, count: int = 1) -> np.ndarray:
        """Products of `category` by popularity (indexes into the catalogue)."""
        indexes, cumulative = self.by_category[category]
        return indexes[np.minimum(np.searchsorted(cumulative, rng.random(count)), len(indexes) - 1)]

    def table(self) -> pa.Table:
        return PRODUCT.table(product_id=self.product_id, name=self.name, category=self.category,
                             price=self.price)  # fmt: skip
