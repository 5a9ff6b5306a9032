"""Training with real Spark on a small simulated world: time-ordered split, learned signal, threshold."""

from __future__ import annotations

from datetime import date

import pytest

from fraudguard.config.model import FeatureSettings, ModelSettings, SimulatorSettings
from fraudguard.train.trainer import Split, train

pytestmark = pytest.mark.integration
FAST = ModelSettings(search_budget_s=0, daily_alert_budget=20)


def test_days_split_in_time_order_with_the_label_delay_left_out():
    split = Split.from_days(date(2026, 1, 1), date(2026, 1, 30), ModelSettings(), FeatureSettings())
    assert split.test == (date(2026, 1, 24), date(2026, 1, 30))
    assert split.delay == (date(2026, 1, 17), date(2026, 1, 23))
    assert split.validation == (date(2026, 1, 14), date(2026, 1, 16))
    assert split.train == (date(2026, 1, 1), date(2026, 1, 13))
    with pytest.raises(ValueError, match="the split needs at least 18"):
        Split.from_days(date(2026, 1, 1), date(2026, 1, 10), ModelSettings(), FeatureSettings())


def test_the_model_learns_fraud_and_the_threshold_meets_the_alert_budget(small_features):
    result = train(small_features, FAST, FeatureSettings(), params_override={"n_estimators": 15})
    metrics = result.test_metrics
    base_rate = metrics["frauds"] / metrics["transactions"]
    assert metrics["auc_pr"] > 10 * base_rate
    assert metrics["auc_roc"] > 0.9
    assert result.validation_metrics["alerts_per_day"] == pytest.approx(20, rel=0.05)
    assert result.rows["test"] == len(result.test_scores) > 0
    assert result.test_scores["timestamp"].min().date() == result.split.test[0]
    assert {f"recall_{name}" for name in SimulatorSettings().scenario_mix.model_dump()} <= set(metrics)
