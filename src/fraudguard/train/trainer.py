"""Fit the fraud model on a feature table, the way time works: the past trains, the future tests.

Days are split in order into [train | validation | label delay | test]: validation picks the
hyperparameters, calibrates the scores (`train.calibration`) and sets the operating threshold, the
delay days are left out because their labels are not known yet when the model would be trained, and
the test days are only ever scored. The search ranks its candidates over time-ordered folds (the
validation days and the same number of days before them, each fold trained on the days before its
own), so that a choice is not fitted to the particular days of one validation window.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Protocol

import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudguard.config.model import FeatureSettings, ModelSettings
from fraudguard.train.calibration import fit_platt
from fraudguard.train.metrics import evaluate, threshold_for_daily_budget, threshold_for_precision
from fraudguard.train.pipeline import (
    DEFAULT_FEATURE_SET,
    DEFAULT_PARAMS,
    FEATURE_SETS,
    LABEL,
    SCORE,
    WEIGHT,
    Inputs,
    build_pipeline,
)

SEARCH_GRID: dict[str, dict[str, list[Any]]] = {
    "gbt": {"maxDepth": [5, 4, 6], "stepSize": [0.05, 0.1]},
    "random_forest": {"maxDepth": [10, 8, 12], "numTrees": [100, 60]},
    "xgboost": {"max_depth": [6, 4, 8], "learning_rate": [0.05, 0.1]},
    "logistic_regression": {"regParam": [0.001, 0.01, 0.1]},
    "isolation_forest": {},  # nothing to choose by labels: the defaults only
}
FRAUD_WEIGHT = "fraud_weight"
"""A search candidate's key for the weight of a fraud row (the rest are the classifier's parameters)."""
EVALUATION_COLUMNS = ["transaction_id", "user_id", "timestamp", "fraud_scenario", "session_id"]
ROWS_PER_PARTITION = 50_000
"""Training rows per partition, at the least: a learner runs a Spark job per iteration (logistic
regression) or per tree level, and a task on fewer rows costs more than its rows (docs/benchmarks.md)."""


class RowSplit(Protocol):
    """Which rows train, which validate (search and threshold), which test."""

    def rows(self, features: DataFrame, part: str) -> DataFrame: ...

    def describe(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Split:
    """The simulated world's split, by days: [train | validation | label delay | test]."""

    train: tuple[date, date]  # inclusive day ranges
    validation: tuple[date, date]
    delay: tuple[date, date]
    test: tuple[date, date]

    @classmethod
    def of(cls, features: DataFrame, model: ModelSettings, feature_settings: FeatureSettings) -> Split:
        """The split of a feature table by the days its transactions span."""
        first, last = features.select(F.min(F.to_date("timestamp")), F.max(F.to_date("timestamp"))).collect()[
            0
        ]
        return cls.from_days(first, last, model, feature_settings)

    @classmethod
    def from_days(cls, first: date, last: date, model: ModelSettings, features: FeatureSettings) -> Split:
        test_start = last - timedelta(days=model.test_days - 1)
        delay_start = test_start - timedelta(days=features.label_delay_days)
        validation_start = delay_start - timedelta(days=model.validation_days)
        if validation_start <= first:
            needed = model.test_days + features.label_delay_days + model.validation_days + 1
            raise ValueError(
                f"the data has {(last - first).days + 1} days; the split needs at least {needed}"
            )
        one = timedelta(days=1)
        return cls(
            train=(first, validation_start - one),
            validation=(validation_start, delay_start - one),
            delay=(delay_start, test_start - one),
            test=(test_start, last),
        )

    def folds(self, count: int) -> list[Split]:
        """This split and up to `count - 1` earlier ones, the book's prequential validation: each
        validates on as many days as this one, just before the next fold's, and trains on every day
        before them. A fold that would train on fewer days than it validates on is not made."""
        one = timedelta(days=1)
        span = self.validation[1] - self.validation[0] + one
        folds = [self]
        for number in range(1, count):
            start = self.validation[0] - number * span
            if start - self.train[0] < span:
                break
            validation = (start, start + span - one)
            folds.append(replace(self, train=(self.train[0], start - one), validation=validation))
        return folds

    def rows(self, features: DataFrame, part: str) -> DataFrame:
        low, high = getattr(self, part)
        day = F.to_date("timestamp")
        return features.where((day >= F.lit(low)) & (day <= F.lit(high)))

    def describe(self) -> dict[str, str]:
        return {
            part: "{}..{}".format(*getattr(self, part)) for part in ("train", "validation", "delay", "test")
        }


@dataclass
class TrainResult:
    model: PipelineModel
    threshold: float
    params: dict[str, Any]
    inputs: Inputs
    split: RowSplit
    test_metrics: dict[str, float]
    validation_metrics: dict[str, float]
    rows: dict[str, int]
    test_scores: pd.DataFrame
    search: list[dict[str, Any]] = field(default_factory=list)


def fit_partitions(train_rows: int) -> int:
    """Partitions for the rows a model is fitted on: one per `ROWS_PER_PARTITION`."""
    return max(math.ceil(train_rows / ROWS_PER_PARTITION), 1)


def at_most(rows: DataFrame, partitions: int) -> DataFrame:
    """`rows` in no more than `partitions` (a large set keeps its own). A shuffle, not `coalesce`:
    XGBoost fits in a barrier stage, which refuses a coalesced RDD among its ancestors."""
    return rows.repartition(partitions) if rows.rdd.getNumPartitions() > partitions else rows


def labelled(features: DataFrame, fraud_weight: float) -> DataFrame:
    is_fraud = F.col("is_fraud")
    return features.withColumns(
        {LABEL: is_fraud.cast("double"), WEIGHT: F.when(is_fraud, F.lit(fraud_weight)).otherwise(F.lit(1.0))}
    )


def score(model: PipelineModel, rows: DataFrame) -> pd.DataFrame:
    """Fraud probability of each row, as pandas with the columns evaluation needs (those the rows
    have: an imported dataset may lack users, times and scenarios)."""
    scored = model.transform(rows).withColumn(SCORE, vector_to_array(F.col("probability"))[1])
    kept = [name for name in EVALUATION_COLUMNS if name in rows.columns]
    return scored.select(*kept, F.col("is_fraud").cast("double").alias(LABEL), SCORE).toPandas()


def train(
    features: DataFrame,
    model_settings: ModelSettings,
    feature_settings: FeatureSettings,
    inputs: Inputs = FEATURE_SETS[DEFAULT_FEATURE_SET],
    seed: int = 42,
    on_step: Callable[[str], None] = lambda _: None,
    params_override: dict[str, Any] | None = None,
    split: RowSplit | None = None,
) -> TrainResult:
    """Fit, pick hyperparameters and threshold on validation, evaluate on test. `params_override`
    fixes classifier parameters on top of every candidate (tests use it for short fits); `split`
    replaces the split derived from the data's days (the handbook protocol fixes its own)."""
    if split is None:
        split = Split.of(features, model_settings, feature_settings)
    train_rows = split.rows(features, "train")
    counts: dict[bool, int] = dict(train_rows.groupBy("is_fraud").count().collect())
    frauds, legit = int(counts.get(True, 0)), int(counts.get(False, 0))
    if frauds == 0 and model_settings.classifier != "isolation_forest":
        raise ValueError(
            f"no fraud labelled in the training rows ({split.describe()['train']}): model.classifier "
            f"{model_settings.classifier!r} learns from labels; isolation_forest learns without them"
        )
    # Full balancing (legit/frauds, ~115 there) made GBT rank worse on the handbook protocol than a
    # weight near its square root (seed 0, book week: AP 0.47 against 0.59 with weight 10).
    weight = model_settings.fraud_weight or (math.sqrt(legit / frauds) if frauds else 1.0)
    partitions = fit_partitions(frauds + legit)
    train_rows = labelled(at_most(train_rows, partitions), weight).cache()
    validation_rows = labelled(at_most(split.rows(features, "validation"), partitions), weight).cache()
    test_rows = labelled(split.rows(features, "test"), weight)

    candidates = _candidates(model_settings.classifier, weighs_frauds=model_settings.fraud_weight is None)
    searching = model_settings.search_budget_s > 0 and len(candidates) > 1
    # Earlier folds only rank candidates; another split (an imported dataset's) has its own days.
    folds = split.folds(model_settings.search_folds)[1:] if searching and isinstance(split, Split) else []
    earlier = [
        fold
        for fold in folds
        if all(_has_fraud(fold.rows(train_rows, part)) for part in ("train", "validation"))
    ]

    def fit(params: dict[str, Any], rows: DataFrame) -> PipelineModel:
        if FRAUD_WEIGHT in params:
            rows = labelled(rows, params[FRAUD_WEIGHT])
        classifier_params = {key: value for key, value in params.items() if key != FRAUD_WEIGHT}
        classifier_params.update(params_override or {})
        return build_pipeline(model_settings, inputs, classifier_params, seed).fit(rows)

    search: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], PipelineModel, pd.DataFrame] | None = None
    deadline = time.monotonic() + model_settings.search_budget_s
    for params in candidates:
        if search and time.monotonic() + sum(c["seconds"] for c in search) / len(search) > deadline:
            break  # a candidate that would not end within the budget (by the mean so far) is not started
        on_step(f"fitting {model_settings.classifier} {params or 'defaults'}")
        started = time.monotonic()
        model = fit(params, train_rows)
        validation_scores = score(model, validation_rows)
        ap = evaluate(validation_scores, threshold=1.0)["auc_pr"]
        fold_aps = {split.describe()["validation"]: ap}  # validation days: AUC-PR
        for fold in earlier:
            days = fold.describe()["validation"]
            on_step(f"fitting {model_settings.classifier} {params or 'defaults'}, validating on {days}")
            fold_model = fit(params, fold.rows(train_rows, "train"))
            fold_aps[days] = evaluate(score(fold_model, fold.rows(train_rows, "validation")), 1.0)["auc_pr"]
        mean_ap = sum(fold_aps.values()) / len(fold_aps)
        search.append(
            {
                "params": params,
                "validation_auc_pr": ap,
                "fold_auc_pr": fold_aps,
                "mean_auc_pr": mean_ap,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        if best is None or mean_ap > best[0]:
            best = (mean_ap, params, model, validation_scores)
    assert best is not None, "the search fits one candidate at least"
    _, params, model, validation_scores = best
    if _calibrates(model_settings, validation_scores):
        on_step("calibrating the scores on the validation days")
        model = PipelineModel([*model.stages, fit_platt(validation_scores)])
        validation_scores = score(model, validation_rows)

    threshold = (
        threshold_for_daily_budget(validation_scores, model_settings.daily_alert_budget)
        if model_settings.threshold_objective == "daily_alert_budget"
        else threshold_for_precision(validation_scores, model_settings.min_precision)
    )
    on_step("scoring the test days")
    test_scores = score(model, test_rows)
    result = TrainResult(
        model=model,
        threshold=threshold,
        params=params,
        inputs=inputs,
        split=split,
        test_metrics=evaluate(test_scores, threshold),
        validation_metrics=evaluate(validation_scores, threshold),
        rows={
            "train": frauds + legit,
            "train_frauds": frauds,
            "validation": len(validation_scores),
            "test": len(test_scores),
        },
        test_scores=test_scores,
        search=search,
    )
    train_rows.unpersist()
    validation_rows.unpersist()
    return result


def _has_fraud(rows: DataFrame) -> bool:
    """Whether the labelled rows hold a fraud: a fold without one neither learns nor ranks."""
    return bool(rows.where(F.col(LABEL) > 0).limit(1).count())


def _calibrates(model_settings: ModelSettings, validation_scores: pd.DataFrame) -> bool:
    """Platt scaling needs labels of both kinds on the validation days, and a model trained on labels."""
    labels = validation_scores["label"]
    return (
        model_settings.calibration == "platt"
        and model_settings.classifier != "isolation_forest"
        and 0 < labels.sum() < len(labels)
    )


def _candidates(classifier: str, weighs_frauds: bool) -> list[dict[str, Any]]:
    """The defaults first, then the same without weighting frauds up (when `model.fraud_weight` leaves
    it to the search), then the grid in order (a small budget still gets a sound model), without the
    grid points that are the defaults again (measured: a wasted 100 s fit on 1M transactions)."""
    grid, defaults = SEARCH_GRID[classifier], DEFAULT_PARAMS[classifier]
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    unweighted = [{FRAUD_WEIGHT: 1.0}] if weighs_frauds and classifier != "isolation_forest" else []
    return [{}, *unweighted, *[c for c in combos if any(defaults.get(k) != v for k, v in c.items())]]
