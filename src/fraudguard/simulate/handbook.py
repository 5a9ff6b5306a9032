"""The handbook world: the public reference simulator of the fraud-detection handbook (Le Borgne et al.,
chapters 3-6), with its book defaults, so the platform's pipeline can be compared with the book.

Mapped onto the platform's schema: customers are users (`c00000`), terminals are merchants (`t00000`,
category `terminal`); the book's 100 x 100 grid becomes 1 x 1 degree near (0, 0) (lat = y / 100,
lon = x / 100, so one grid unit is about 1.1 km). Fields the book does not model get neutral values
that carry no signal: every user has one device, age and gender are drawn independently of fraud,
accounts and terminals open 1-10 years before the start, every payment is in store in EUR. The book
knows every fraud's label (its features wait out a fixed delay instead): each is reported an hour
after it happens, so no chargeback may count before that delay (`feature_settings`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from fraudguard.config.model import FeatureSettings
from fraudguard.schemas import MERCHANT, TRANSACTION, USER
from fraudguard.simulate.labels import ChargebackQueue
from fraudguard.simulate.timeline import DayBatch, epoch_ms
from fraudguard.simulate.world import DAY_MS, GENDERS

SCENARIO_NAMES = {1: "high_amount", 2: "compromised_terminal", 3: "compromised_card"}


def feature_settings(features: FeatureSettings) -> FeatureSettings:
    """`features` as the book's protocol allows them on this world: its report times are not real, so
    no rate counts a chargeback inside the label delay."""
    return features.model_copy(update={"early_chargebacks": False})


class HandbookTimeline:
    name = "handbook"

    def __init__(
        self,
        seed: int = 0,
        customers: int = 5000,
        terminals: int = 10000,
        days: int = 183,
        start: date = date(2018, 4, 1),
        radius: float = 5.0,
    ) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.n_customers, self.n_terminals, self.total_days = customers, terminals, days
        self.start, self.radius = start, radius
        self.start_ms = epoch_ms(start)
        rng = self.rng
        self.customer_xy = rng.uniform(0, 100, size=(customers, 2))
        self.mean_amount = rng.uniform(5, 100, customers)
        self.std_amount = self.mean_amount / 2
        self.mean_tx_per_day = rng.uniform(0, 4, customers)
        self.terminal_xy = rng.uniform(0, 100, size=(terminals, 2))
        self.labels = ChargebackQueue(np.random.default_rng(seed), mean_delay_days=0.0, unreported_share=0.0)
        self._transactions: pa.Table | None = None
        self._day_bounds: np.ndarray | None = None

    # -- entities ------------------------------------------------------------------------------

    def products(self) -> None:
        """The book's world has no online shop and no clickstream."""
        return None

    def initial(self) -> tuple[pa.Table, pa.Table]:
        # Accounts and terminals opened 1-10 years before the start, independently of fraud: the same
        # date for all would make "account age" a clock that models overfit.
        rng = np.random.default_rng(self.seed + 1)
        signup = self.start_ms - (rng.uniform(365, 3650, self.n_customers) * DAY_MS).astype(np.int64)
        opened = self.start_ms - (rng.uniform(365, 3650, self.n_terminals) * DAY_MS).astype(np.int64)
        ages = rng.integers(18, 80, self.n_customers).astype(np.int32)
        genders = rng.choice(GENDERS[:2], size=self.n_customers)
        users = USER.table(
            user_id=[f"c{i:05d}" for i in range(self.n_customers)],
            age=ages,
            gender=genders,
            city=["handbook-grid"] * self.n_customers,
            country=["XX"] * self.n_customers,
            lat=self.customer_xy[:, 1] / 100,
            lon=self.customer_xy[:, 0] / 100,
            signup_date=signup,
            updated_at=signup,
        )
        merchants = MERCHANT.table(
            merchant_id=[f"t{i:05d}" for i in range(self.n_terminals)],
            name=[f"terminal {i}" for i in range(self.n_terminals)],
            category=["terminal"] * self.n_terminals,
            city=["handbook-grid"] * self.n_terminals,
            country=["XX"] * self.n_terminals,
            lat=self.terminal_xy[:, 1] / 100,
            lon=self.terminal_xy[:, 0] / 100,
            created_at=opened,
            updated_at=opened,
        )
        return users, merchants

    # -- transactions --------------------------------------------------------------------------

    def days(self, count: int | None = None) -> Iterator[DayBatch]:
        table = self.transactions()
        empty_users, empty_merchants = USER.arrow().empty_table(), MERCHANT.arrow().empty_table()
        bounds = self._day_bounds
        assert bounds is not None, "set by transactions()"
        for day in range(self.total_days if count is None else min(count, self.total_days)):
            low, high = bounds[day], bounds[day + 1]
            transactions = table.slice(low, high - low)
            self.labels.add(transactions)
            yield DayBatch(
                day=self.start + timedelta(days=day),
                users=empty_users,
                merchants=empty_merchants,
                transactions=transactions,
                labels=self.labels.release(epoch_ms(self.start + timedelta(days=day + 1))),
            )

    def transactions(self) -> pa.Table:
        if self._transactions is None:
            self._transactions = self._generate()
        return self._transactions

    def _generate(self) -> pa.Table:
        rng = self.rng
        offsets, available = self._available_terminals()
        per_customer = np.diff(offsets)

        counts = rng.poisson(np.tile(self.mean_tx_per_day, self.total_days))
        day = np.repeat(np.repeat(np.arange(self.total_days), self.n_customers), counts)
        customer = np.repeat(np.tile(np.arange(self.n_customers), self.total_days), counts)
        seconds = np.rint(rng.normal(86_400 / 2, 20_000, len(day))).astype(np.int64)
        keep = (seconds > 0) & (seconds < 86_400) & (per_customer[customer] > 0)
        day, customer, seconds = day[keep], customer[keep], seconds[keep]

        amount = rng.normal(self.mean_amount[customer], self.std_amount[customer])
        negative = amount < 0
        amount[negative] = rng.uniform(0, 2 * self.mean_amount[customer[negative]])
        amount = np.round(amount, 2)
        pick = (rng.random(len(day)) * per_customer[customer]).astype(np.int64)
        terminal = available[offsets[customer] + pick]

        order = np.lexsort((seconds, day))
        day, customer, seconds, amount, terminal = (
            day[order],
            customer[order],
            seconds[order],
            amount[order],
            terminal[order],
        )
        scenario = np.zeros(len(day), dtype=np.int8)
        scenario[amount > 220] = 1
        self._compromise_terminals(day, terminal, scenario)
        self._compromise_cards(day, customer, amount, scenario)

        ts_ms = self.start_ms + day * DAY_MS + seconds * 1000
        self._day_bounds = np.searchsorted(day, np.arange(self.total_days + 1))
        names = np.array([None, *SCENARIO_NAMES.values()], dtype=object)
        return TRANSACTION.table(
            transaction_id=[f"h{i:08d}" for i in range(len(day))],
            user_id=np.array([f"c{i:05d}" for i in range(self.n_customers)], dtype=object)[customer],
            merchant_id=np.array([f"t{i:05d}" for i in range(self.n_terminals)], dtype=object)[terminal],
            timestamp=ts_ms,
            amount=amount,
            currency=np.full(len(day), "EUR", dtype=object),
            channel=np.full(len(day), "in_store", dtype=object),
            device_ip=np.array([f"10.{i // 256}.{i % 256}.1" for i in range(self.n_customers)], dtype=object)[
                customer
            ],
            session_id=np.full(len(day), None, dtype=object),
            is_fraud=scenario > 0,
            fraud_scenario=names[scenario],
        )

    def _available_terminals(self) -> tuple[np.ndarray, np.ndarray]:
        """Per customer, the terminals closer than the radius, as offsets into one flat array."""
        found: list[np.ndarray] = []
        for low in range(0, self.n_customers, 500):
            block = self.customer_xy[low : low + 500]
            distance = np.linalg.norm(block[:, None, :] - self.terminal_xy[None, :, :], axis=2)
            found.extend(np.flatnonzero(row < self.radius) for row in distance)
        offsets = np.concatenate([[0], np.cumsum([len(f) for f in found])])
        return offsets, np.concatenate(found)

    def _compromise_terminals(self, day: np.ndarray, terminal: np.ndarray, scenario: np.ndarray) -> None:
        """Scenario 2: each day, 2 terminals; all their transactions in the next 28 days are fraud."""
        by_terminal = np.argsort(terminal, kind="stable")
        sorted_terminals = terminal[by_terminal]
        for start in range(self.total_days):
            for bad in self.rng.choice(self.n_terminals, size=2, replace=False):
                low, high = np.searchsorted(sorted_terminals, [bad, bad + 1])
                rows = by_terminal[low:high]
                scenario[rows[(day[rows] >= start) & (day[rows] < start + 28)]] = 2

    def _compromise_cards(
        self, day: np.ndarray, customer: np.ndarray, amount: np.ndarray, scenario: np.ndarray
    ) -> None:
        """Scenario 3: each day, 3 customers; a third of their next 14 days' transactions x5 and fraud."""
        by_customer = np.argsort(customer, kind="stable")
        sorted_customers = customer[by_customer]
        for start in range(self.total_days):
            victims = self.rng.choice(self.n_customers, size=3, replace=False)
            rows = np.concatenate(
                [by_customer[slice(*np.searchsorted(sorted_customers, [c, c + 1]))] for c in victims]
            )
            rows = rows[(day[rows] >= start) & (day[rows] < start + 14)]
            chosen = self.rng.choice(rows, size=len(rows) // 3, replace=False)
            amount[chosen] = np.round(amount[chosen] * 5, 2)
            scenario[chosen] = 3
