"""The stream's numpy evaluation of the champion pipeline gives Spark's scores, for every classifier the
platform trains, with missing numbers, unseen categories and missing categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml.functions import vector_to_array

from fraudguard.config.model import ModelSettings
from fraudguard.stream.champion import SCORE_ROUNDING, ScoringModel
from fraudguard.stream.local_model import LocalPipeline
from fraudguard.train.pipeline import FEATURE_SETS, LABEL, WEIGHT, build_pipeline

pytestmark = pytest.mark.integration
NUMERIC, CATEGORICAL = FEATURE_SETS["entities"]
FAST = {"gbt": {"maxIter": 15, "minInstancesPerNode": 5}, "random_forest": {"numTrees": 12, "maxDepth": 6}}


def frame(rows: int, seed: int, unseen: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({column: rng.exponential(rng.choice([0.5, 5.0, 50.0]), rows) for column in NUMERIC})
    data["currency"] = rng.choice(["EUR", "USD", "GBP", *(["XXX", None] if unseen else [])], rows)
    data["merchant_category"] = rng.choice(
        ["grocery", "travel", "misc_net", *(["new"] if unseen else [])], rows
    )
    data["user_gender"] = rng.choice(["F", "M", *([None] if unseen else [])], rows)
    signal = data["amount"] * (data["merchant_category"] == "travel") + 3 * data["distance_home_km"]
    data[LABEL] = (signal > np.quantile(signal, 0.8)).astype(float)
    data[WEIGHT] = 1.0
    if unseen:
        for column in NUMERIC:
            data.loc[rng.random(rows) < 0.05, column] = np.nan
    return data


@pytest.mark.parametrize("classifier", ["gbt", "random_forest", "logistic_regression"])
def test_numpy_scores_equal_spark_scores(spark, classifier):
    pipeline = build_pipeline(ModelSettings(classifier=classifier), "entities", FAST.get(classifier))
    model = pipeline.fit(spark.createDataFrame(frame(2_000, seed=1, unseen=False)))
    local = LocalPipeline.of(model)
    assert local is not None, "every stage the platform trains is known"

    scored = frame(1_000, seed=2, unseen=True).assign(_row=range(1_000))
    expected = (
        model.transform(spark.createDataFrame(scored))
        .select("_row", vector_to_array("probability")[1].alias("p"))
        .toPandas()
        .sort_values("_row")["p"]
        .to_numpy()
    )
    actual = local.score(scored)
    finite = ~np.isnan(expected)
    assert finite.sum() > 500 and np.array_equal(np.isnan(actual), ~finite)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=SCORE_ROUNDING)
    assert expected[finite].std() > 0.05, "scores that barely vary would make the check weak"

    # A pipeline the numpy path does not know is scored by Spark, in the rows' order.
    by_spark = ScoringModel("m", "1", 0.5, "entities", model, {}, "export", local=None)
    shuffled = scored.sample(frac=1.0, random_state=3)
    np.testing.assert_array_equal(
        by_spark.score(spark, shuffled), expected[shuffled["_row"].to_numpy()], strict=True
    )
