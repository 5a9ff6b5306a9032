"""Browsing sessions: deterministic, schema-valid, one checkout per online payment, and each fraud
scenario's trace in its sessions, while legitimate sessions carry the same events now and then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fraudguard.config.model import ScenarioMix, SimulatorSettings
from fraudguard.schemas import PRODUCT, SESSION_EVENT, SESSION_EVENTS
from fraudguard.simulate import sessions
from fraudguard.simulate.timeline import FakerWorldTimeline

WORLD = SimulatorSettings(
    users=1500, merchants=300, days=5, fraud_rate=0.03, seed=5,
    scenario_mix=ScenarioMix(account_takeover=0.35, card_testing=0.25, fresh_account_abuse=0.3,
                             compromised_merchant=0.05, impossible_travel=0.05),
)  # fmt: skip


def simulated(settings: SimulatorSettings) -> tuple[pa.Table, pa.Table]:
    """The world's transactions and session events (each day's in time order)."""
    days = list(FakerWorldTimeline(settings).days())
    assert all(day.sessions["event_time"].to_pandas().is_monotonic_increasing for day in days)
    return (
        pa.concat_tables([day.transactions for day in days]),
        pa.concat_tables([day.sessions for day in days]),
    )


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Transactions, session events, and per session: the scenario it paid for and its event types."""
    transactions, events = simulated(WORLD)
    assert events.schema.equals(SESSION_EVENT.arrow())
    transactions, events = transactions.to_pandas(), events.to_pandas()
    paid = events[events["event_type"] == "checkout"].merge(
        transactions.drop(columns="session_id"), on="transaction_id"
    )
    scenario = paid.groupby("session_id")["fraud_scenario"].first().fillna("legitimate")
    kinds = events.groupby("session_id")["event_type"].agg(list)
    return transactions, events, pd.DataFrame({"scenario": scenario, "kinds": kinds})


def test_the_same_seed_gives_the_same_sessions_and_the_world_does_not_depend_on_them(monkeypatch):
    small = WORLD.model_copy(update={"users": 300, "merchants": 60, "days": 2})
    transactions, events = simulated(small)
    again_transactions, again_events = simulated(small)
    assert events.equals(again_events) and transactions.equals(again_transactions)
    assert not simulated(small.model_copy(update={"seed": 6}))[1].equals(events)

    empty = pa.Table.from_pylist([], schema=SESSION_EVENT.arrow())
    no_session = lambda self, checkouts: (empty, np.full(len(checkouts.transaction_id), None))  # noqa: E731
    monkeypatch.setattr(sessions.BrowsingSessions, "day", no_session)
    without = simulated(small)[0]
    assert without.drop_columns(["session_id"]).equals(transactions.drop_columns(["session_id"])), (
        "the sessions' draws moved the world"
    )


def test_every_online_payment_ends_exactly_one_session_that_leads_up_to_it(world):
    transactions, events, _ = world
    assert set(events["event_type"]) <= set(SESSION_EVENTS)
    checkouts = events[events["event_type"] == "checkout"].set_index("transaction_id")
    online = transactions[transactions["channel"] == "online"].set_index("transaction_id")
    assert checkouts.index.is_unique and set(checkouts.index) == set(online.index)
    assert (checkouts["event_time"] == online["timestamp"].reindex(checkouts.index)).all()
    assert (checkouts["user_id"] == online["user_id"].reindex(checkouts.index)).all()
    assert (checkouts["device_ip"] == online["device_ip"].reindex(checkouts.index)).all()
    assert (checkouts["session_id"] == online["session_id"].reindex(checkouts.index)).all()
    assert transactions.loc[transactions["channel"] == "in_store", "session_id"].isna().all()
    assert events["event_id"].is_unique
    for _, session in events.groupby("session_id"):
        assert session["event_time"].is_monotonic_increasing
        assert session["event_type"].iloc[0] == "session_start"
        assert session["user_id"].nunique() == session["device_ip"].nunique() == 1
        assert session["event_type"].iloc[-1] == "checkout"
    products = events["product_id"].notna()
    assert (products == events["event_type"].isin(["product_view", "add_to_cart", "checkout"])).all()


def test_each_scenario_leaves_its_trace_and_legitimate_sessions_vary(world):
    _, _, per_session = world
    by = {name: group["kinds"] for name, group in per_session.groupby("scenario")}
    assert {"legitimate", "card_testing", "account_takeover", "fresh_account_abuse"} <= set(by)

    def share(name: str, condition) -> float:
        return by[name].map(condition).mean()

    assert (
        share("card_testing", lambda kinds: "product_view" not in kinds and kinds.count("checkout") >= 3) == 1
    )
    changed = share("account_takeover", lambda kinds: "password_change" in kinds or "address_change" in kinds)
    assert changed == 1
    assert share("fresh_account_abuse", lambda kinds: "signup" in kinds) > 0.9, (
        "its run is in the sign-up session"
    )
    legitimate = by["legitimate"]
    views = legitimate.map(lambda kinds: kinds.count("product_view"))
    assert views.min() >= 1 and views.max() >= 10, "quick buyers and long browsers"
    new_customers = legitimate[legitimate.map(lambda kinds: "signup" in kinds)]
    assert len(new_customers) >= WORLD.new_users_per_day * WORLD.days / 4, "many sign up to buy"
    assert new_customers.map(lambda kinds: kinds.count("checkout")).mean() < 1.5
    for kind in ("address_change", "password_change"):
        assert 0 < legitimate.map(lambda kinds, kind=kind: kind in kinds).mean() < 0.03, kind


def test_a_sign_up_in_a_session_is_when_the_account_was_opened(world):
    _, events, _ = world
    users = (
        pd.concat(
            [
                FakerWorldTimeline(WORLD).initial()[0].to_pandas(),
                *(d.users.to_pandas() for d in FakerWorldTimeline(WORLD).days()),
            ]
        )
        .drop_duplicates("user_id", keep="last")
        .set_index("user_id")
    )
    signups = events[events["event_type"] == "signup"]
    assert len(signups) and signups["user_id"].is_unique
    assert (
        signups["event_time"].to_numpy() == users["signup_date"].reindex(signups["user_id"]).to_numpy()
    ).all()


def test_fresh_account_abuse_checks_out_minutes_after_its_sign_up_and_new_customers_take_longer(world):
    _, events, per_session = world
    opened = events[events["event_type"] == "signup"].set_index("session_id")["event_time"]
    first_checkout = events[events["event_type"] == "checkout"].groupby("session_id")["event_time"].min()
    minutes = ((first_checkout[opened.index] - opened).dt.total_seconds() / 60).rename("minutes")
    by = per_session.join(minutes, how="inner").groupby("scenario")["minutes"]
    fraud, legitimate = by.get_group("fresh_account_abuse"), by.get_group("legitimate")
    assert len(fraud) >= 10 and fraud.between(1, 10).all()
    assert len(legitimate) >= 10 and legitimate.between(3, 45).all() and legitimate.median() > 15


def test_the_catalogue_is_what_sessions_view_and_buy():
    timeline = FakerWorldTimeline(WORLD.model_copy(update={"days": 1}))
    products = timeline.products()
    assert products.schema.equals(PRODUCT.arrow()) and len(set(products["product_id"].to_pylist())) == len(
        products
    )
    events = next(timeline.days()).sessions.to_pandas().dropna(subset=["product_id"])
    catalogue = products.to_pandas().set_index("product_id")
    assert (
        catalogue["category"].reindex(events["product_id"]).to_numpy() == events["category"].to_numpy()
    ).all()
    top = events["product_id"].value_counts()
    assert top.iloc[0] > 5 * top.median(), "popular products take most views"
