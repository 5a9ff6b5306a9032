"""Training with real Spark on a small simulated world: time-ordered split, learned signal, threshold."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from fraudguard.config.model import FeatureSettings, ModelSettings, SimulatorSettings
from fraudguard.train.calibration import PlattCalibration
from fraudguard.train.metrics import evaluate
from fraudguard.train.trainer import FRAUD_WEIGHT, SEARCH_GRID, Split, at_most, labelled, score, train

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


def test_earlier_folds_validate_on_the_days_before_and_train_on_the_days_before_them():
    split = Split.from_days(date(2026, 1, 1), date(2026, 1, 30), ModelSettings(), FeatureSettings())
    folds = split.folds(9)
    day = lambda number: date(2026, 1, number)  # noqa: E731
    assert [fold.validation for fold in folds] == [(day(14), day(16)), (day(11), day(13)), (day(8), day(10)),
                                                   (day(5), day(7))]  # fmt: skip
    assert [fold.train for fold in folds] == [(day(1), day(13)), (day(1), day(10)), (day(1), day(7)),
                                              (day(1), day(4))]  # fmt: skip
    assert {(fold.delay, fold.test) for fold in folds} == {(split.delay, split.test)}
    assert split.folds(1) == [split]


def test_the_search_ranks_candidates_by_validation_auc_pr_over_the_earlier_folds(small_features, monkeypatch):
    """With the grid emptied, the candidates are the defaults and the same without weighting frauds up.
    Without frauds before 01-11, the third fold (validating on 01-11..12) has none to learn from and is
    left out."""
    monkeypatch.setitem(SEARCH_GRID, "xgboost", {})
    model = ModelSettings(search_folds=3, test_days=2, validation_days=2, daily_alert_budget=20)
    delay = FeatureSettings(label_delay_days=2)
    features = small_features.where(~F.col("is_fraud") | (F.to_date("timestamp") >= F.lit(date(2026, 1, 11))))
    result = train(features, model, delay, params_override={"n_estimators": 10})
    assert [candidate["params"] for candidate in result.search] == [{}, {FRAUD_WEIGHT: 1.0}]
    for candidate in result.search:
        folds = candidate["fold_auc_pr"]
        assert list(folds) == ["2026-01-15..2026-01-16", "2026-01-13..2026-01-14"]
        assert folds["2026-01-15..2026-01-16"] == candidate["validation_auc_pr"]
        assert len(set(folds.values())) == 2
        assert candidate["mean_auc_pr"] == pytest.approx(np.mean(list(folds.values())))
    weighted, unweighted = result.search
    assert weighted["validation_auc_pr"] != unweighted["validation_auc_pr"]
    assert result.params == max(result.search, key=lambda candidate: candidate["mean_auc_pr"])["params"]


def test_the_model_learns_fraud_and_the_threshold_meets_the_alert_budget(small_features):
    result = train(small_features, FAST, FeatureSettings(), params_override={"n_estimators": 30})
    metrics = result.test_metrics
    base_rate = metrics["frauds"] / metrics["transactions"]
    assert metrics["auc_pr"] > 10 * base_rate
    assert metrics["auc_roc"] > 0.9
    assert result.validation_metrics["alerts_per_day"] == pytest.approx(20, rel=0.05)
    assert result.rows["test"] == len(result.test_scores) > 0
    assert result.test_scores["timestamp"].min().date() == result.split.test[0]
    assert {f"recall_{name}" for name in SimulatorSettings().scenario_mix.model_dump()} <= set(metrics)


def test_calibrated_scores_keep_the_ranking_and_read_as_fraud_shares(small_features, tmp_path):
    """The classifier is trained with frauds weighted up, so its own probabilities overstate fraud; the
    calibration stage, fitted on the validation days, brings the test days' scores to the frauds' share
    without reordering them, and is saved and loaded with the pipeline."""
    result = train(small_features, FAST, FeatureSettings(), params_override={"n_estimators": 15})
    assert isinstance(result.model.stages[-1], PlattCalibration)
    test_rows = labelled(result.split.rows(small_features, "test"), 1.0)
    raw = score(PipelineModel(result.model.stages[:-1]), test_rows)
    calibrated = result.test_scores
    assert (raw["transaction_id"] == calibrated["transaction_id"]).all()
    assert (np.argsort(-raw["score"].to_numpy(), kind="stable")
            == np.argsort(-calibrated["score"].to_numpy(), kind="stable")).all()  # fmt: skip
    before, after = evaluate(raw, 1.0), result.test_metrics
    assert after["auc_pr"] == pytest.approx(before["auc_pr"], abs=1e-9)
    assert after["calibration_error"] < before["calibration_error"] / 2
    assert after["brier_score"] < before["brier_score"]
    share = after["frauds"] / after["transactions"]
    assert calibrated["score"].mean() == pytest.approx(share, rel=0.5)

    result.model.write().save(str(tmp_path / "pipeline"))
    again = score(PipelineModel.load(str(tmp_path / "pipeline")), test_rows)
    assert np.abs(again["score"].to_numpy() - calibrated["score"].to_numpy()).max() < 1e-12


def test_fewer_partitions_still_feed_a_barrier_stage(spark):
    """XGBoost fits in a barrier stage, and uses its input as it is when the partitions already number
    its workers: `at_most` must leave nothing a barrier stage refuses (a coalesce does)."""
    many = spark.range(400).repartition(8)
    fewer = at_most(many, 2)
    assert fewer.rdd.getNumPartitions() == 2
    sizes = fewer.rdd.barrier().mapPartitions(lambda rows: [sum(1 for _ in rows)]).collect()
    assert len(sizes) == 2 and sum(sizes) == 400
    assert at_most(many, 16).rdd.getNumPartitions() == 8
