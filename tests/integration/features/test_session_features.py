"""Session features with real Spark: which events count for a payment, and each scenario's trace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from fraudguard.config.model import ScenarioMix, SimulatorSettings
from fraudguard.features.sessions import SESSION_FEATURES, SESSION_LOOKBACK_S, with_session_features
from fraudguard.schemas import SESSION_EVENT, TRANSACTION
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_schema

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 10, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def payment(transaction_id: str, when: datetime, session_id: str | None) -> dict:
    return {"transaction_id": transaction_id, "user_id": "u1", "merchant_id": "m1", "timestamp": when,
            "amount": 10.0, "currency": "EUR", "channel": "online" if session_id else "in_store",
            "device_ip": "10.0.0.1", "session_id": session_id, "is_fraud": None,
            "fraud_scenario": None}  # fmt: skip


def event(number: int, session_id: str, kind: str, when: datetime, paid: str | None = None) -> dict:
    return {"event_id": f"e{number}", "session_id": session_id, "user_id": "u1", "event_type": kind,
            "event_time": when, "device_ip": "10.0.0.1", "product_id": None, "category": None,
            "transaction_id": paid}  # fmt: skip


def test_a_payment_counts_its_sessions_events_before_it_and_in_reach_only(spark):
    transactions = spark.createDataFrame(
        [
            payment("t1", at(600), "s1"),
            payment("t2", at(900), "s1"),
            payment("t3", at(600), None),
            payment("t4", at(600), "s-without-events"),
        ],
        spark_schema(TRANSACTION),
    )
    kinds = [
        (-SESSION_LOOKBACK_S - 1, "product_view", None),  # out of reach
        (0, "session_start", None),
        (60, "login", None),
        (120, "password_change", None),
        (300, "product_view", None),
        (420, "product_view", None),
        (599, "add_to_cart", None),
        (600, "checkout", "t1"),  # t1's own checkout: counts for t2 only
        (899, "add_to_cart", None),
        (900, "checkout", "t2"),
        (960, "product_view", None),  # after both payments
    ]
    events = [event(n, "s1", kind, at(when), paid) for n, (when, kind, paid) in enumerate(kinds)]
    events.append(event(99, "s2", "signup", at(500)))  # another session
    frame = with_session_features(transactions, spark.createDataFrame(events, spark_schema(SESSION_EVENT)))
    rows = {row["transaction_id"]: row.asDict() for row in frame.collect()}

    assert {name: rows["t1"][name] for name in SESSION_FEATURES} == {
        "session_seconds": 600.0,
        "session_events": 6.0,
        "session_product_views": 2.0,
        "session_events_per_minute": 0.6,
        "session_checkouts_before": 0.0,
        "session_credential_change": 1.0,
        "session_signup": 0.0,
    }
    assert rows["t2"]["session_events"] == 8.0 and rows["t2"]["session_checkouts_before"] == 1.0
    assert rows["t2"]["session_seconds"] == 900.0
    for name in ("t3", "t4"):  # in store, or a session whose events are missing: unknown, not zero
        assert all(rows[name][feature] is None for feature in SESSION_FEATURES), name


def test_each_scenario_with_a_browsing_trace_shows_it_in_its_features(spark):
    world = SimulatorSettings(
        users=600, merchants=120, days=6, fraud_rate=0.03, seed=8,
        scenario_mix=ScenarioMix(account_takeover=0.4, card_testing=0.3, fresh_account_abuse=0.3,
                                 compromised_merchant=0.0, impossible_travel=0.0),
    )  # fmt: skip
    days = list(FakerWorldTimeline(world).days())
    transactions = pa.concat_tables([day.transactions for day in days]).to_pandas()
    events = pa.concat_tables([day.sessions for day in days]).to_pandas()
    features = with_session_features(
        spark.createDataFrame(transactions, spark_schema(TRANSACTION)),
        spark.createDataFrame(events, spark_schema(SESSION_EVENT)),
    ).toPandas()
    online = features[features["channel"] == "online"]
    assert online[list(SESSION_FEATURES)].notna().all().all()
    assert features.loc[features["channel"] == "in_store", list(SESSION_FEATURES)].isna().all().all()

    by = {name: rows for name, rows in online.groupby(online["fraud_scenario"].fillna("legitimate"))}
    legit, testing, takeover = by["legitimate"], by["card_testing"], by["account_takeover"]
    assert (testing["session_product_views"] == 0).all()
    assert testing["session_checkouts_before"].mean() > 2 > legit["session_checkouts_before"].mean()
    assert (takeover["session_credential_change"] == 1).all()
    assert legit["session_credential_change"].mean() < 0.05
    assert by["fresh_account_abuse"]["session_signup"].mean() > 2 * legit["session_signup"].mean()
