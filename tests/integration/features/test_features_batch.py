"""Training features with real Spark: point in time, no label inside the delay, one definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from fraudguard.config.model import FeatureSettings, SimulatorSettings
from fraudguard.features.batch import EARLY_RATE, as_of_join, build_features, with_labels
from fraudguard.features.user_history import FEATURES, STORE_HOURS, STORE_IDS, UserState, update
from fraudguard.geo import haversine_km
from fraudguard.schemas import CHARGEBACK, LABEL, MERCHANT, REVIEW, TRANSACTION, USER
from fraudguard.spark import spark_schema
from tests.conftest import simulated_world, spark_frames

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 10, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def tx(spark, rows):
    base = {
        "currency": "EUR",
        "channel": "in_store",
        "device_ip": "10.0.0.1",
        "fraud_scenario": None,
        "amount": 10.0,
    }
    return spark.createDataFrame([{**base, **row} for row in rows], spark_schema(TRANSACTION))


@pytest.fixture(scope="module")
def world(spark):
    """A small simulated world as pandas DataFrames, and its features."""
    transactions, users, merchants, labels = simulated_world(
        SimulatorSettings(users=300, merchants=80, days=8, seed=5)
    )
    features = build_features(
        *spark_frames(spark, transactions, users, merchants, labels), FeatureSettings()
    ).toPandas()
    return transactions, users, merchants, features


def test_one_feature_row_per_transaction(world):
    transactions, _, _, features = world
    assert len(features) == len(transactions)
    assert set(features["transaction_id"]) == set(transactions["transaction_id"])
    assert features[list(FEATURES)].notna().all().all()


def test_the_user_and_merchant_versions_in_force_at_the_time_are_joined(spark):
    users = spark.createDataFrame(
        [
            {
                "user_id": "u1",
                "age": 30,
                "gender": "F",
                "city": "A",
                "country": "DE",
                "lat": 50.0,
                "lon": 8.0,
                "signup_date": at(-1000),
                "updated_at": at(-1000),
            },
            {
                "user_id": "u1",
                "age": 30,
                "gender": "F",
                "city": "B",
                "country": "DE",
                "lat": 52.5,
                "lon": 13.4,
                "signup_date": at(-1000),
                "updated_at": at(5),
            },
        ],
        spark_schema(USER),
    )
    transactions = tx(
        spark,
        [
            {
                "transaction_id": "before",
                "user_id": "u1",
                "merchant_id": "m1",
                "timestamp": at(4),
                "is_fraud": False,
            },
            {
                "transaction_id": "at",
                "user_id": "u1",
                "merchant_id": "m1",
                "timestamp": at(5),
                "is_fraud": False,
            },
            {
                "transaction_id": "unknown",
                "user_id": "u9",
                "merchant_id": "m1",
                "timestamp": at(6),
                "is_fraud": False,
            },
        ],
    )
    joined = (
        as_of_join(transactions, users, "user_id", {"lat": "user_lat"}).toPandas().set_index("transaction_id")
    )
    assert joined.loc["before", "user_lat"] == 50.0
    assert joined.loc["at", "user_lat"] == 52.5
    assert np.isnan(joined.loc["unknown", "user_lat"])


def label(spark, rows):
    base = {"is_fraud": True, "source": CHARGEBACK}
    return spark.createDataFrame([{**base, **row} for row in rows], spark_schema(LABEL))


def test_merchant_fraud_rate_uses_labels_outside_the_delay_once_reported(spark, world):
    _, users, merchants, _ = world
    settings = FeatureSettings(label_delay_days=7)
    user, merchant = users["user_id"].iloc[0], merchants["merchant_id"].iloc[0]
    # A fraud in hour X counts from hour X + 7 x 24 + 1 on, and not before the day after its report.
    # The transactions' own `is_fraud` is no label: it says the opposite here and changes nothing.
    rows = [
        {"transaction_id": "fraud", "timestamp": at(0.5), "is_fraud": False},  # 2026-01-10 00:30
        {"transaction_id": "reported-late", "timestamp": at(1.5), "is_fraud": False},  # 01-10 01:30
        {"transaction_id": "inside-delay", "timestamp": at(7 * 24 + 0.9), "is_fraud": True},  # 01-17 00:54
        {"transaction_id": "first-hour-out", "timestamp": at(7 * 24 + 1.1), "is_fraud": True},  # 01:06
        {"transaction_id": "both-out", "timestamp": at(7 * 24 + 2.5), "is_fraud": True},  # 01-17 02:30
        {"transaction_id": "a-day-later", "timestamp": at(8 * 24 + 1.5), "is_fraud": True},  # 01-18 01:30
        {"transaction_id": "report-day", "timestamp": at(9 * 24 + 10), "is_fraud": True},  # 01-19 10:00
        {"transaction_id": "after-report", "timestamp": at(10 * 24 + 1), "is_fraud": True},  # 01-20 01:00
    ]
    transactions = tx(spark, [{**r, "user_id": user, "merchant_id": merchant} for r in rows])
    labels = label(spark, [
        {"transaction_id": "fraud", "merchant_id": merchant, "event_time": at(0.5), "reported_at": at(48)},
        {"transaction_id": "reported-late", "merchant_id": merchant, "event_time": at(1.5),
         "reported_at": at(9 * 24 + 5)},  # 01-19 05:00
        {"transaction_id": "reported-late", "merchant_id": merchant, "event_time": at(1.5),
         "reported_at": at(9 * 24 + 6), "source": REVIEW},  # the same fraud again: counted once
    ])  # fmt: skip
    features = (
        build_features(
            transactions,
            spark.createDataFrame(users, spark_schema(USER)),
            spark.createDataFrame(merchants, spark_schema(MERCHANT)),
            labels,
            settings,
        )
        .toPandas()
        .set_index("transaction_id")
    )
    rate, count = features["merchant_fraud_rate_28d"], features["merchant_labelled_count_28d"]
    assert (rate["inside-delay"], count["inside-delay"]) == (0.0, 0.0)
    assert (rate["first-hour-out"], count["first-hour-out"]) == (1.0, 1.0)  # hour X only: the fraud
    assert (rate["both-out"], count["both-out"]) == (0.5, 2.0)  # one of the two is known
    assert features.loc["both-out", "merchant_fraud_rate_1d"] == 0.5
    assert features.loc["a-day-later", "merchant_fraud_rate_1d"] == 0.0  # 24 h back: past the fraud's hour
    assert rate["a-day-later"] == 0.5
    assert rate["report-day"] == 0.5  # reported that morning: known from the next day on
    assert rate["after-report"] == 1.0
    assert features.loc["after-report", "category_fraud_rate_28d"] == 1.0


def test_the_early_merchant_rate_counts_chargebacks_already_in_from_the_day_after_their_report(spark, world):
    _, users, merchants, _ = world
    user, merchant = users["user_id"].iloc[0], merchants["merchant_id"].iloc[0]
    # In hour H, the early rate reads the payments of hours H - 168 .. H - 49 (inside the 7-day label
    # delay) and the chargebacks on them reported before H's day.
    rows = [
        {"transaction_id": "fraud", "timestamp": at(0.5)},  # 2026-01-10 00:30, reported 01-11 05:00
        {"transaction_id": "legit", "timestamp": at(0.7)},
        {"transaction_id": "late-fraud", "timestamp": at(1.5)},  # reported 01-12 12:00
        {"transaction_id": "next-day", "timestamp": at(34)},  # 01-11 10:00: hour 0 is too recent
        {"transaction_id": "two-days-on", "timestamp": at(49)},  # 01-12 01:00: hour 0 only
        {"transaction_id": "late-report-day", "timestamp": at(68)},  # 01-12 20:00: hours 0 and 1
        {"transaction_id": "after-late-report", "timestamp": at(74)},  # 01-13 02:00
        {"transaction_id": "week-later", "timestamp": at(7 * 24 + 2)},  # 01-17 02:00: hours 0 and 1 are past
    ]
    transactions = tx(
        spark, [{**r, "user_id": user, "merchant_id": merchant, "is_fraud": False} for r in rows]
    )
    labels = label(spark, [
        {"transaction_id": "fraud", "merchant_id": merchant, "event_time": at(0.5), "reported_at": at(29)},
        {"transaction_id": "late-fraud", "merchant_id": merchant, "event_time": at(1.5),
         "reported_at": at(60)},
    ])  # fmt: skip
    frames = (
        transactions,
        spark.createDataFrame(users, spark_schema(USER)),
        spark.createDataFrame(merchants, spark_schema(MERCHANT)),
        labels,
    )
    early = build_features(*frames, FeatureSettings()).toPandas().set_index("transaction_id")
    assert early[EARLY_RATE].to_dict() == pytest.approx({
        "fraud": 0.0, "legit": 0.0, "late-fraud": 0.0, "next-day": 0.0, "two-days-on": 0.5,
        "late-report-day": 1 / 3, "after-late-report": 2 / 3, "week-later": 0.0,
    })  # fmt: skip
    assert early.loc["week-later", "merchant_fraud_rate_28d"] == pytest.approx(2 / 3)  # the delayed windows'
    off = build_features(*frames, FeatureSettings(early_chargebacks=False)).toPandas()
    assert (off[EARLY_RATE] == 0.0).all()


def test_the_latest_label_is_the_training_label_and_no_label_means_legitimate(spark):
    transactions = tx(spark, [
        {"transaction_id": t, "user_id": "u1", "merchant_id": "m1", "timestamp": at(0), "is_fraud": truth}
        for t, truth in (("charged-back", False), ("cleared", True), ("unreported", True))
    ])  # fmt: skip
    labels = label(spark, [
        {"transaction_id": "charged-back", "merchant_id": "m1", "event_time": at(0), "reported_at": at(50)},
        {"transaction_id": "cleared", "merchant_id": "m1", "event_time": at(0), "reported_at": at(50)},
        {"transaction_id": "cleared", "merchant_id": "m1", "event_time": at(0), "reported_at": at(60),
         "is_fraud": False, "source": REVIEW},
    ])  # fmt: skip
    labelled = dict(with_labels(transactions, labels).select("transaction_id", "is_fraud").collect())
    assert labelled == {"charged-back": True, "cleared": False, "unreported": False}


def test_spark_per_user_features_equal_the_shared_definition(world):
    transactions, _, merchants, features = world
    data = transactions.assign(
        ts=transactions["timestamp"].astype("datetime64[ms, UTC]").astype("int64") / 1000,
        in_store=transactions["channel"] == "in_store",
    ).sort_values(["ts", "transaction_id"], kind="stable")
    expected = pd.concat(
        [
            update(UserState(), rows)[0].assign(transaction_id=rows["transaction_id"])
            for _, rows in data.groupby("user_id")
        ]
    ).set_index("transaction_id")
    actual = features.set_index("transaction_id").loc[expected.index]
    pd.testing.assert_frame_equal(
        actual[list(FEATURES)], expected[list(FEATURES)], check_exact=False, rtol=1e-9, atol=1e-9
    )

    # Travel: from the previous in-store merchant's location (its record in force now) to this one.
    versions = merchants.assign(at=pd.to_datetime(merchants["updated_at"], utc=True)).sort_values("at")

    def located(merchant_ids: pd.Series) -> pd.DataFrame:
        asked = pd.DataFrame({"merchant_id": merchant_ids.to_numpy(), "at": actual["timestamp"].to_numpy()})
        asked["at"] = pd.to_datetime(asked["at"], utc=True).astype(versions["at"].dtype)
        asked["row"] = range(len(asked))
        found = pd.merge_asof(asked.sort_values("at"), versions[["merchant_id", "at", "lat", "lon"]],
                              on="at", by="merchant_id")  # fmt: skip
        return found.sort_values("row")

    here = located(actual["merchant_id"])
    speeds = []
    for store_id, hours in zip(STORE_IDS, STORE_HOURS, strict=True):
        before = located(expected[store_id])
        km = haversine_km(before["lat"].to_numpy(), before["lon"].to_numpy(), here["lat"].to_numpy(),
                          here["lon"].to_numpy())  # fmt: skip
        in_store = (actual["channel"] == "in_store").to_numpy() & before["lat"].notna().to_numpy()
        km = np.where(in_store, km, 0.0)
        speeds.append(np.where(km > 0, km / np.maximum(expected[hours].to_numpy(), 1 / 60), 0.0))
        if store_id == STORE_IDS[0]:
            np.testing.assert_allclose(actual["km_from_previous_store"], km, rtol=1e-9)
            np.testing.assert_allclose(actual["implied_speed_kmh"], speeds[0], rtol=1e-9)
    fastest = np.max(speeds, axis=0)
    np.testing.assert_allclose(actual["fastest_recent_store_speed_kmh"], fastest, rtol=1e-9)
    assert (fastest > speeds[0]).sum() > 10, "no payment whose fastest jump is from an earlier store"
