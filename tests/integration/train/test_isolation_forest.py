"""The isolation forest stage with real Spark: fitted without labels inside a Pipeline, its scores
those of scikit-learn's forest on the same rows, outliers ranked first, saved and loaded with the
PipelineModel, and missing inputs scored."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from fraudguard.config.model import FeatureSettings, ModelSettings
from fraudguard.data.importer import ImportOptions, import_dataset
from fraudguard.data.naming import stream_settings
from fraudguard.data.reading import SourceFile
from fraudguard.paths import RuntimePaths
from fraudguard.stream import control
from fraudguard.stream.champion import ChampionSource
from fraudguard.train import registry
from fraudguard.train.imported import ImportedDataset
from fraudguard.train.isolation_forest import QUANTILES, IsolationForest, IsolationForestModel
from fraudguard.train.job import run_training
from fraudguard.train.pipeline import ANOMALY_SCORE, Inputs, build_pipeline
from fraudguard.train.trainer import train
from tests.samples.datasets import creditcard_csv

pytestmark = pytest.mark.integration


def rows(count: int = 4_000, seed: int = 5):
    """Two correlated inputs; 2% of the rows lie far from the rest."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, count)
    b = a * 0.8 + rng.normal(0, 0.3, count)
    outlier = rng.random(count) < 0.02
    a[outlier] += rng.choice([-6, 6], outlier.sum())
    return [(float(x), float(y), bool(o)) for x, y, o in zip(a, b, outlier, strict=True)]


@pytest.fixture(scope="module")
def fitted(spark):
    frame = spark.createDataFrame(rows(), "a double, b double, outlier boolean")
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["a", "b"], outputCol="features",
                                                handleInvalid="keep"),
                                IsolationForest(numTrees=50, seed=7)])  # fmt: skip
    return frame, pipeline.fit(frame)


def scored(model: PipelineModel, frame) -> tuple[np.ndarray, np.ndarray]:
    out = model.transform(frame).select(vector_to_array("probability")[1].alias("s"), "outlier").toPandas()
    return out["s"].to_numpy(), out["outlier"].to_numpy()


def test_the_forest_ranks_outliers_first_and_scores_as_scikit_learn_does(fitted):
    frame, model = fitted
    scores, outlier = scored(model, frame)
    assert roc_auc_score(outlier, scores) > 0.95
    assert ((scores > 0) & (scores <= 1)).all()
    forest = model.stages[-1]
    assert isinstance(forest, IsolationForestModel)
    inputs = np.array(frame.select("a", "b").toPandas())
    np.testing.assert_allclose(scores, -forest.forest.score_samples(inputs), rtol=0, atol=1e-12)


def test_a_saved_pipeline_loads_with_its_forest_and_scores_the_same(fitted, tmp_path):
    frame, model = fitted
    model.save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert isinstance(loaded.stages[-1], IsolationForestModel)
    assert loaded.stages[-1].getOrDefault("numTrees") == 50
    np.testing.assert_array_equal(scored(loaded, frame)[0], scored(model, frame)[0])


def test_a_missing_input_takes_the_training_median(fitted, spark):
    _, model = fitted
    forest = model.stages[-1]
    gaps = spark.createDataFrame([(None, 0.1, False), (float(forest.medians[0]), 0.1, False)],
                                 "a double, b double, outlier boolean")  # fmt: skip
    missing, filled = scored(model, gaps)[0]
    assert missing == pytest.approx(filled)


def test_an_unsupervised_champion_is_trained_registered_exported_and_served(make_runtime, spark, tmp_path):
    """`isolation_forest` as the classifier: fitted without labels on the credit-card format (its frauds
    lie apart along a few components), gated and promoted like any model, loaded by the stream from the
    registry and from the export."""
    settings, _ = make_runtime(FRAUDGUARD__MODEL__SEARCH_BUDGET_S="0", FRAUDGUARD__MODEL__MIN_PRECISION="0.3",
                               FRAUDGUARD__DATASETS__CLASSIFIER="isolation_forest",
                               FRAUDGUARD__MODEL__EXPORT_DIR=str(tmp_path / "models"))  # fmt: skip
    dataset = ImportedDataset(RuntimePaths(settings.runtime_dir).datasets / "creditcard")
    source = creditcard_csv(tmp_path / "creditcard.csv", 8_000, fraud_rate=0.02)
    import_dataset(SourceFile(source), dataset.path, ImportOptions("creditcard", "creditcard"))
    outcome = run_training(spark, settings, dataset)
    metrics = outcome.result.test_metrics
    assert outcome.decision.promoted
    assert metrics["auc_pr"] > 5 * metrics["frauds"] / metrics["transactions"]

    serving = stream_settings(control.for_dataset(settings, "creditcard"))
    champion = ChampionSource(serving).current()
    assert champion.source == "registry" and isinstance(champion.pipeline.stages[-1], IsolationForestModel)
    assert set(champion.population) == {*(f"V{i}" for i in range(1, 29)), "Amount"}
    assert all(len(q) == len(QUANTILES) and list(q) == sorted(q) for q in champion.population.values())
    exported, metadata = registry.load_export(serving)
    assert isinstance(exported.stages[-1], IsolationForestModel) and str(metadata["version"]) == "1"
    test_rows = outcome.result.split.rows(dataset.rows(spark), "test")
    served = champion.pipeline.transform(test_rows).select(
        "transaction_id", vector_to_array("probability")[1].alias("served")
    )
    both = outcome.result.test_scores.merge(served.toPandas(), on="transaction_id")
    assert len(both) == len(outcome.result.test_scores) > 0
    np.testing.assert_allclose(both["served"], both["score"], rtol=0, atol=1e-12)


def test_the_anomaly_score_is_an_input_learned_from_the_training_rows_only(spark):
    """`model.anomaly_feature`: the forest inside the supervised pipeline is the one a forest fitted on
    the training rows alone would be (nothing of the other rows leaks in), and the classifier uses it."""
    frame = spark.createDataFrame(rows(), "a double, b double, outlier boolean").withColumns(
        {"label": F.col("outlier").cast("double"), "weight": F.lit(1.0)}
    )
    train, later = frame.where(F.col("a") < 1.5), frame.where(F.col("a") >= 1.5)
    settings = ModelSettings(classifier="random_forest", anomaly_feature=True)
    model = build_pipeline(settings, Inputs("test", ("a", "b")), {"numTrees": 10, "maxDepth": 4}).fit(train)

    alone = Pipeline(stages=[VectorAssembler(inputCols=["a", "b"], outputCol="anomaly_inputs",
                                             handleInvalid="keep"),
                             IsolationForest(featuresCol="anomaly_inputs", probabilityCol="",
                                             scoreCol=ANOMALY_SCORE, seed=42)]).fit(train)  # fmt: skip
    inside = model.transform(later).select(ANOMALY_SCORE).toPandas()[ANOMALY_SCORE]
    np.testing.assert_array_equal(
        inside, alone.transform(later).select(ANOMALY_SCORE).toPandas()[ANOMALY_SCORE]
    )
    importances = registry.feature_importances(model)
    assert set(importances) == {"a", "b", ANOMALY_SCORE} and importances[ANOMALY_SCORE] > 0


def test_with_no_fraud_labelled_only_the_isolation_forest_trains(spark):
    """Day one, no fraud confirmed: a supervised classifier is refused with the way out named; the forest
    trains, its threshold keeps the daily alert budget and the alerts it raises are the outliers."""
    data, start = rows(4_000), datetime(2026, 1, 1)
    hours = 20 * 24 / len(data)  # twenty days
    frame = spark.createDataFrame(
        [(f"t{i}", start + timedelta(hours=i * hours), a, b, False) for i, (a, b, _) in enumerate(data)],
        "transaction_id string, timestamp timestamp, a double, b double, is_fraud boolean",
    )
    outliers = {f"t{i}" for i, (_, _, outlier) in enumerate(data) if outlier}
    inputs = Inputs("test", ("a", "b"))
    with pytest.raises(ValueError, match=r"no fraud labelled .* isolation_forest learns without them"):
        train(frame, ModelSettings(search_budget_s=0), FeatureSettings(), inputs)

    forest = ModelSettings(classifier="isolation_forest", daily_alert_budget=8)
    result = train(frame, forest, FeatureSettings(), inputs)
    assert result.test_metrics["frauds"] == 0
    assert 4 <= result.test_metrics["alerts_per_day"] <= 12
    scores = result.test_scores
    alerts = scores[scores["score"] >= result.threshold]
    test_outliers = scores["transaction_id"].isin(outliers)
    assert alerts["transaction_id"].isin(outliers).sum() >= 0.8 * test_outliers.sum() > 0
