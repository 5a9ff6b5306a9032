"""Training with real Spark on a small simulated world: time-ordered split, learned signal, threshold."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from fraudguard.config.model import FeatureSettings, ModelSettings, SimulatorSettings
from fraudguard.features.batch import build_features
from fraudguard.schemas import MERCHANT, TRANSACTION, USER
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.train.trainer import Split, train

pytestmark = pytest.mark.integration
FAST = ModelSettings(search_budget_s=0, daily_alert_budget=20)


@pytest.fixture(scope="module")
def features(spark):
    timeline = FakerWorldTimeline(
        SimulatorSettings(users=800, merchants=150, days=20, seed=21, fraud_rate=0.02)
    )
    users, merchants = timeline.initial()
    days = list(timeline.days())
    frames = [
        spark.createDataFrame(pa.concat_tables(parts).to_pandas(), schema.spark())
        for parts, schema in (
            ([d.transactions for d in days], TRANSACTION),
            ([users, *(d.users for d in days)], USER),
            ([merchants, *(d.merchants for d in days)], MERCHANT),
        )
    ]
    return build_features(*frames, FeatureSettings()).cache()


def test_days_split_in_time_order_with_the_label_delay_left_out():
    split = Split.from_days(date(2026, 1, 1), date(2026, 1, 30), ModelSettings(), FeatureSettings())
    assert split.test == (date(2026, 1, 24), date(2026, 1, 30))
    assert split.delay == (date(2026, 1, 17), date(2026, 1, 23))
    assert split.validation == (date(2026, 1, 14), date(2026, 1, 16))
    assert split.train == (date(2026, 1, 1), date(2026, 1, 13))
    with pytest.raises(ValueError, match="the split needs at least 18"):
        Split.from_days(date(2026, 1, 1), date(2026, 1, 10), ModelSettings(), FeatureSettings())


def test_the_model_learns_fraud_and_the_threshold_meets_the_alert_budget(features):
    result = train(features, FAST, FeatureSettings(), params_override={"maxIter": 15})
    metrics = result.test_metrics
    base_rate = metrics["frauds"] / metrics["transactions"]
    assert metrics["auc_pr"] > 10 * base_rate
    assert metrics["auc_roc"] > 0.9
    assert result.validation_metrics["alerts_per_day"] == pytest.approx(20, rel=0.05)
    assert result.rows["test"] == len(result.test_scores) > 0
    assert result.test_scores["timestamp"].min().date() == result.split.test[0]
    assert {f"recall_{name}" for name in SimulatorSettings().scenario_mix.model_dump()} <= set(metrics)
