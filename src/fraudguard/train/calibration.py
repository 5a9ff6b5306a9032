"""Scores an analyst can read as probabilities: Platt scaling of the classifier's fraud probability, as
the pipeline's last stage.

Training weights frauds up (`model.fraud_weight`), and the classifier's probability overstates fraud
where the alerts are (`benchmarks/feature_lift.py` measures the gap). A logistic fit of the
label on the log-odds of the score, on the validation days (later than the training days, never the
test days), maps the score back to the frauds' share among scores like it. The map is increasing, so
the ranking, AUC-PR, card precision and the alerts at the daily budget stay the same; only the numbers
change. The stage rewrites `probability` in place, so the stream, the gate and the alerts use the
calibrated score without knowing about it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel, Transformer
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

EPSILON = 1e-12
"""Scores are clipped to [EPSILON, 1 - EPSILON] before their log-odds are taken."""


class PlattCalibration(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """`probability` := [1 - q, q], q = sigmoid(slope * logit(p) + intercept), p its fraud column."""

    slope: Param[float] = Param(Params._dummy(), "slope", "log-odds multiplier", TypeConverters.toFloat)
    intercept: Param[float] = Param(Params._dummy(), "intercept", "log-odds shift", TypeConverters.toFloat)

    def __init__(self, slope: float = 1.0, intercept: float = 0.0) -> None:
        super().__init__()
        self._set(slope=slope, intercept=intercept)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        p = F.least(F.greatest(vector_to_array(F.col("probability"))[1], F.lit(EPSILON)), F.lit(1 - EPSILON))
        log_odds = F.lit(self.getOrDefault(self.slope)) * F.log(p / (1 - p)) + F.lit(
            self.getOrDefault(self.intercept)
        )
        q = 1 / (1 + F.exp(-log_odds))
        return dataset.withColumn("probability", array_to_vector(F.array(1 - q, q)))


def fit_platt(scores: pd.DataFrame) -> PlattCalibration:
    """The calibration of scored rows (`label`, `score`): the maximum-likelihood logistic fit of the
    label on the score's log-odds (unregularised: two parameters on thousands of rows)."""
    from sklearn.linear_model import LogisticRegression

    p = np.clip(scores["score"].to_numpy(dtype=float), EPSILON, 1 - EPSILON)
    fit = LogisticRegression(C=np.inf).fit(np.log(p / (1 - p)).reshape(-1, 1), scores["label"].to_numpy())
    return PlattCalibration(float(fit.coef_[0, 0]), float(fit.intercept_[0]))


def classifier_stage(model: PipelineModel) -> Transformer:
    """The stage that scores (the last one before a calibration)."""
    stages = [stage for stage in model.stages if not isinstance(stage, PlattCalibration)]
    return stages[-1]
