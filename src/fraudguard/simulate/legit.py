"""Legitimate behaviour: every user spends by their own profile, at home or on a trip, in person only
in shops within reach of where they are.

Realistic noise is part of it on purpose, so that no single signal is proof of fraud: people travel
(transactions far from home), buy tiny things (coffee, transit), make big purchases now and then, pay
from a new phone or network once in a while, and many sign up in order to buy, paying online minutes
after the sign-up, as a fresh-account fraudster does.
"""

from __future__ import annotations

import numpy as np

from fraudguard.simulate.catalog import AMOUNT_MU, AMOUNT_SIGMA, CATEGORIES, ONLINE
from fraudguard.simulate.columns import Columns
from fraudguard.simulate.day import Day, transactions
from fraudguard.simulate.world import DAY_MS, random_ips

TRIP_START_PROBABILITY = 0.004  # per user and day
TRIP_DAYS = (2, 8)
NEW_DEVICE_PROBABILITY = 0.01  # per transaction
BIG_PURCHASE_PROBABILITY = 0.01  # per transaction: a splurge several times the usual amount
WELCOME_PURCHASE_SHARE = 0.5  # new users whose sign-up is part of their first (online) purchase
WELCOME_PURCHASE_MINUTES = (3, 45)  # from the sign-up to that payment
SHOPPING_REACH_KM = 150.0  # in person, people buy only in categories with a shop this close


def plan_trips(day: Day) -> None:
    users, rng = day.world.users, day.rng
    users.trip_place[users.trip_end_ms <= day.start_ms] = -1
    home = np.flatnonzero((users.trip_place < 0) & ~users.synthetic)
    leaving = home[rng.random(len(home)) < TRIP_START_PROBABILITY]
    places = day.world.places
    users.trip_place[leaving] = rng.choice(len(places), size=len(leaving), p=day.world.place_weights)
    users.trip_end_ms[leaving] = day.start_ms + rng.integers(*TRIP_DAYS, size=len(leaving)) * DAY_MS


def legit_day(day: Day) -> Columns:
    users, rng = day.world.users, day.rng
    active = np.flatnonzero(~users.synthetic & (users.signup_ms < day.end_ms))
    user = np.repeat(active, rng.poisson(users.daily_rate[active]))
    hours = (users.peak_hour[user] + users.hour_spread[user] * rng.standard_normal(len(user))) % 24
    ts_ms = day.start_ms + (hours * 3_600_000).astype(np.int64)
    after_signup = ts_ms >= users.signup_ms[user]
    user, ts_ms = user[after_signup], ts_ms[after_signup]

    taste = users.category_taste[user]
    in_reach = day.pools.in_store_within(_whereabouts(day, user), SHOPPING_REACH_KM)
    category = _draw_category(_within_reach(taste, in_reach), rng)
    welcome, welcome_ms, welcome_category = _welcome_purchases(day)
    user, ts_ms = np.concatenate([user, welcome]), np.concatenate([ts_ms, welcome_ms])
    category = np.concatenate([category, welcome_category])
    place = _whereabouts(day, user)
    merchant = np.empty(len(user), dtype=np.int64)
    online = ONLINE[category]
    merchant[online] = day.pools.anywhere(category[online], rng)
    merchant[~online] = day.pools.local(place[~online], category[~online], rng)

    log_amount = (
        AMOUNT_MU[category]
        + users.amount_offset[user]
        + AMOUNT_SIGMA[category] * rng.standard_normal(len(user))
    )
    splurge = rng.random(len(user)) < BIG_PURCHASE_PROBABILITY
    log_amount[splurge] += rng.uniform(1.0, 2.0, splurge.sum())

    ip = day.user_device(user)
    fresh = rng.random(len(user)) < NEW_DEVICE_PROBABILITY
    ip[fresh] = random_ips(rng, int(fresh.sum()))
    return transactions(user, merchant, ts_ms, np.exp(log_amount), ip)


def _within_reach(taste: np.ndarray, in_reach: np.ndarray) -> np.ndarray:
    """Each row's taste with its in-store share spread over the in-store categories within reach, so
    that the share of payments made online stays each user's own (all of it online when no shop of any
    category is in reach)."""
    in_store = taste * in_reach
    reached = in_store.sum(axis=1, keepdims=True)
    wanted = taste[:, ~ONLINE].sum(axis=1, keepdims=True)
    scale = np.divide(wanted, reached, out=np.zeros_like(reached), where=reached > 0)
    return taste * ONLINE + in_store * scale


def _whereabouts(day: Day, user: np.ndarray) -> np.ndarray:
    """Each user's place this day: their trip's, or home."""
    trip_place = day.world.users.trip_place[user]
    return np.where(trip_place >= 0, trip_place, day.world.users.place[user])


def _welcome_purchases(day: Day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The users who sign up this day in order to buy, when they pay, and the online category they
    buy in (by their own taste among the online ones)."""
    users, rng = day.world.users, day.rng
    today = (users.signup_ms >= day.start_ms) & (users.signup_ms < day.end_ms)
    new = np.flatnonzero(~users.synthetic & today)
    buyers = new[rng.random(len(new)) < WELCOME_PURCHASE_SHARE]
    minutes = rng.uniform(*WELCOME_PURCHASE_MINUTES, len(buyers))
    ts_ms = np.minimum(users.signup_ms[buyers] + (minutes * 60_000).astype(np.int64), day.end_ms - 1)
    taste = users.category_taste[buyers] * ONLINE
    return buyers, ts_ms, _draw_category(taste, rng)


def _draw_category(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row, drawn in proportion to the row's (unnormalised, positive) weights."""
    draw = rng.random(len(weights))[:, None] * weights.sum(axis=1, keepdims=True)
    category = (np.cumsum(weights, axis=1) <= draw).sum(axis=1)  # the first category past the draw
    return np.minimum(category, len(CATEGORIES) - 1)
