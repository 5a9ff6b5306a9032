"""The Faker world's timeline: day after day, the records that change and the transactions that happen.

Batch mode writes it to Parquet, live mode publishes it to Kafka: both read the same timeline, so a
live run and a batch run with the same seed describe the same world.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
from faker import Faker

from fraudguard.config.model import SimulatorSettings
from fraudguard.schemas import TRANSACTION
from fraudguard.simulate.catalog import CATEGORIES
from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, MerchantPools
from fraudguard.simulate.labels import ChargebackQueue
from fraudguard.simulate.legit import legit_day, plan_trips
from fraudguard.simulate.products import Catalogue
from fraudguard.simulate.scenarios import SCENARIOS
from fraudguard.simulate.sessions import BrowsingSessions, Checkouts
from fraudguard.simulate.world import DAY_MS, World

PRE_ROLL_DAYS = 28  # the longest incident: compromised merchants stay bad for up to four weeks


@dataclass(frozen=True)
class DayBatch:
    day: date | None  # None: a replayed file's rows without a time column
    users: pa.Table  # user records taking effect this day (sign-ups, moves)
    merchants: pa.Table  # merchant records taking effect this day (openings)
    transactions: pa.Table  # the day's transactions in event-time order
    labels: pa.Table  # labels reported this day (chargebacks of earlier frauds), in report order
    sessions: pa.Table | None = None  # browsing before the day's online payments; None: no clickstream


def epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class FakerWorldTimeline:
    """The default world: Faker places and companies, numpy behaviour, five fraud scenarios."""

    name = "faker"

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        faker = Faker()
        faker.seed_instance(settings.seed)
        self.world = World(settings, self.rng, faker)
        self.start_ms = epoch_ms(settings.start_date)
        self._populate()
        mix = settings.scenario_mix.model_dump()
        self.scenarios = [SCENARIOS[name]() for name, share in mix.items() if share > 0]
        self.shares = {name: share for name, share in mix.items() if share > 0}
        self.budget = dict.fromkeys(self.shares, 0.0)
        self.pending: Columns | None = None
        self._pre_roll()
        self.labels = ChargebackQueue(
            np.random.default_rng([settings.seed, 1]),  # the world's own draws stay as they were
            settings.chargeback_delay_days,
            settings.unreported_fraud_share,
        )
        self.catalogue = Catalogue.generate(settings.seed)
        self.browsing = BrowsingSessions(settings.seed, self.catalogue)

    def _populate(self) -> None:
        """The users and merchants that exist before the first day."""
        rng, settings, day_ms = self.rng, self.settings, DAY_MS
        signup = self.start_ms - (rng.uniform(30, 3650, settings.users) * day_ms).astype(np.int64)
        self.world.add_users(np.sort(signup))
        # A tenth of the merchants are young, so new merchants are not a fraud give-away.
        age_days = np.where(
            rng.random(settings.merchants) < 0.1,
            rng.uniform(1, 60, settings.merchants),
            rng.uniform(60, 3650, settings.merchants),
        )
        self.world.add_merchants(np.sort(self.start_ms - (age_days * day_ms).astype(np.int64)))

    def _pre_roll(self) -> None:
        """Run the fraud process for the weeks before the first day, so that incidents lasting weeks
        are already under way on day one and each scenario is at its steady-state share."""
        users = self.world.users
        for index in range(-PRE_ROLL_DAYS, 0):
            start = self.start_ms + index * DAY_MS
            day = Day(self.world, MerchantPools(self.world, start), start, self.rng)
            expected_legit = users.daily_rate[day.established_users()].sum()
            incidents = Columns.concat(self._frauds(day, expected_legit))
            self.pending = incidents[incidents.ts_ms >= self.start_ms]

    def _frauds(self, day: Day, legit_count: float) -> list[Columns]:
        """New incidents keeping each scenario's fraud count at its share of `fraud_rate`."""
        rate = self.settings.fraud_rate
        due = legit_count * rate / (1 - rate)
        incidents = [self.pending] if self.pending is not None else []
        for scenario in self.scenarios:
            self.budget[scenario.name] += due * self.shares[scenario.name]
            while self.budget[scenario.name] > 0:
                incident = scenario.incident(day)
                incidents.append(incident)
                self.budget[scenario.name] -= int(incident.fraud.sum())
        return incidents

    def initial(self) -> tuple[pa.Table, pa.Table]:
        """Every user and merchant record as of the start."""
        return (
            self.world.user_records(np.arange(len(self.world.users))),
            self.world.merchant_records(np.arange(len(self.world.merchants))),
        )

    def products(self) -> pa.Table:
        return self.catalogue.table()

    def days(self, count: int | None = None) -> Iterator[DayBatch]:
        for index in range(self.settings.days if count is None else count):
            yield self._day(index)

    def _day(self, index: int) -> DayBatch:
        rng, world, settings = self.rng, self.world, self.settings
        start = self.start_ms + index * DAY_MS
        world.add_users(start + np.sort(rng.integers(0, DAY_MS, rng.poisson(settings.new_users_per_day))))
        world.add_merchants(
            start + np.sort(rng.integers(0, DAY_MS, rng.poisson(settings.new_merchants_per_day)))
        )
        day = Day(world, MerchantPools(world, start), start, rng)
        established = day.established_users()
        movers = rng.choice(
            established, size=min(rng.poisson(settings.moves_per_day), len(established)), replace=False
        )
        world.move(np.sort(movers), start)
        plan_trips(day)

        legit = legit_day(day)
        happened = Columns.concat([legit, *self._frauds(day, len(legit))])
        today = happened.ts_ms < day.end_ms
        self.pending = happened[~today]
        happened = happened[today]
        happened = happened[np.argsort(happened.ts_ms, kind="stable")]

        ids = np.frombuffer(binascii.hexlify(rng.bytes(16 * len(happened))), dtype="S32").astype(str)
        sessions, session_id = self._sessions(happened, ids)
        transactions = self._transaction_table(happened, ids, session_id)
        self.labels.add(transactions)
        changed_users = _changed(world.users.updated_ms, start, day.end_ms)
        changed_merchants = _changed(world.merchants.updated_ms, start, day.end_ms)
        return DayBatch(
            day=self.settings.start_date + timedelta(days=index),
            users=world.user_records(changed_users),
            merchants=world.merchant_records(changed_merchants),
            transactions=transactions,
            labels=self.labels.release(day.end_ms),
            sessions=sessions,
        )

    def _sessions(self, tx: Columns, ids: np.ndarray) -> tuple[pa.Table, np.ndarray]:
        """The day's browsing events, and each transaction's session id (None in store)."""
        online = self.world.merchants.online[tx.merchant]
        category = np.array([c.name for c in CATEGORIES], dtype=object)[
            self.world.merchants.category[tx.merchant]
        ]
        events, checkout_session = self.browsing.day(
            Checkouts(
                transaction_id=ids[online],
                user_id=self.world.users.id[tx.user][online],
                ts_ms=tx.ts_ms[online],
                category=category[online],
                ip=tx.ip[online],
                scenario=tx.scenario[online],
                signup_ms=self.world.users.signup_ms[tx.user][online],
            )
        )
        session_id = np.full(len(tx), None, dtype=object)
        session_id[online] = checkout_session
        return events, session_id

    def _transaction_table(self, tx: Columns, ids: np.ndarray, session_id: np.ndarray) -> pa.Table:
        world = self.world
        currency = world.currency_by_place[world.users.place[tx.user]]
        return TRANSACTION.table(
            transaction_id=ids,
            user_id=world.users.id[tx.user],
            merchant_id=world.merchants.id[tx.merchant],
            timestamp=tx.ts_ms,
            amount=tx.amount,
            currency=currency,
            channel=np.where(world.merchants.online[tx.merchant], "online", "in_store"),
            device_ip=tx.ip,
            session_id=session_id,
            is_fraud=tx.fraud,
            fraud_scenario=tx.scenario,
        )


def _changed(updated_ms: np.ndarray, start: int, end: int) -> np.ndarray:
    changed = np.flatnonzero((updated_ms >= start) & (updated_ms < end))
    return changed[np.argsort(updated_ms[changed], kind="stable")]
