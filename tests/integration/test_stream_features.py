"""Parity of the stream's features with the batch features: a simulated world's transactions go through
the stream's feature step (`stream.features.micro_batch_features`, with its SQLite per-user state and
its tables) in several micro-batches (one empty, one replayed as after a crash), and come out with every value
batch training computes with Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudguard.config.model import FeatureSettings, SimulatorSettings
from fraudguard.features.batch import build_features
from fraudguard.features.user_history import PREVIOUS_STORE
from fraudguard.stream.features import micro_batch_features
from fraudguard.stream.tables import Tables
from fraudguard.stream.user_store import UserStateStore
from fraudguard.train.pipeline import FEATURE_SETS
from tests.conftest import simulated_world, spark_frames

pytestmark = pytest.mark.integration


def test_stream_features_equal_batch_features_over_micro_batches_and_a_replay(spark, tmp_path):
    transactions, users, merchants = simulated_world(
        SimulatorSettings(users=300, merchants=60, days=8, seed=5)
    )
    settings = FeatureSettings(label_delay_days=2)
    batch = build_features(*spark_frames(spark, transactions, users, merchants), settings).toPandas()

    ordered = transactions.sort_values(["timestamp", "transaction_id"], ignore_index=True)
    store = UserStateStore(tmp_path / "users.sqlite")
    tables = Tables().with_records(users, merchants)  # every version: the as-of join picks the one in force
    chunks = np.array_split(np.arange(len(ordered)), 7)
    chunks.insert(2, np.arange(0))  # a micro-batch of records only
    streamed = []
    for batch_id, rows in enumerate(chunks):
        if batch_id == 3:  # a first attempt whose results are lost, then Spark's replay of the batch
            micro_batch_features(ordered.iloc[rows], tables, store, batch_id, settings.label_delay_days)
            store.before(batch_id)
        features, tables = micro_batch_features(
            ordered.iloc[rows], tables, store, batch_id, settings.label_delay_days
        )
        streamed.append(features)
    stream = pd.concat(streamed).set_index("transaction_id").sort_index()
    expected = batch.set_index("transaction_id").sort_index()
    assert len(stream) == len(expected) and stream.index.equals(expected.index)
    assert stream["user_known"].all() and stream["merchant_known"].all()

    numeric, categorical = FEATURE_SETS["behaviour"]
    pd.testing.assert_frame_equal(
        stream[list(numeric)].astype(float), expected[list(numeric)].astype(float),
        check_exact=False, rtol=1e-9, atol=1e-6,
    )  # fmt: skip
    for column in [*categorical, PREVIOUS_STORE]:
        pd.testing.assert_series_equal(
            stream[column].astype(object).fillna("-"),
            expected[column].astype(object).fillna("-"),
            check_dtype=False,
        )
    assert (stream["merchant_fraud_rate_28d"] > 0).any(), "no label reached the risk window: a weak check"
    assert (stream["km_from_previous_store"] > 0).any()
