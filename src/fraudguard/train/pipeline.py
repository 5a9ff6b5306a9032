"""The MLlib pipeline: categorical encoding, assembling and the configured classifier.

Feature sets grow in the order the platform earns them: what a transaction says on its own, what its
user and merchant records add (joins), what behaviour adds (per-user history, delayed risk), and what
the payment's browsing session adds (a dataset with sessions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.sql import SparkSession
from xgboost.spark import SparkXGBClassifier

from fraudguard.config.model import ModelSettings
from fraudguard.features.batch import RISK_FEATURES
from fraudguard.features.handbook import BOOK_FEATURES
from fraudguard.features.row import TRAVEL_FEATURES
from fraudguard.features.sessions import SESSION_FEATURES
from fraudguard.features.user_history import FEATURES as BEHAVIOUR
from fraudguard.train.isolation_forest import IsolationForest

LABEL, WEIGHT, FEATURES, SCORE = "label", "weight", "features", "score"
ANOMALY_SCORE = "anomaly_score"
"""The isolation forest's score, an input of a supervised model with `model.anomaly_feature`."""

TRANSACTION = ("amount", "log_amount", "hour_of_day", "is_night", "is_weekend", "is_online")
ENTITIES = ("user_age", "account_age_days", "merchant_age_days", "distance_home_km")
ENTITY_CATEGORIES = ("currency", "merchant_category", "user_gender")


@dataclass(frozen=True)
class Inputs:
    """A model's input columns: a feature set of the simulated world, or an imported dataset's."""

    name: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_json(self) -> str:
        return json.dumps({"numeric": self.numeric, "categorical": self.categorical})

    @classmethod
    def of_run(cls, params: dict[str, str]) -> Inputs:
        """The inputs a training run logged (its `inputs` parameter, or its named feature set)."""
        name = params["feature_set"]
        if "inputs" not in params:
            return FEATURE_SETS[name]
        logged = json.loads(params["inputs"])
        return cls(name, tuple(logged["numeric"]), tuple(logged["categorical"]))


FEATURE_SETS = {
    inputs.name: inputs
    for inputs in (
        Inputs("transaction", TRANSACTION, ("currency",)),
        Inputs("entities", TRANSACTION + ENTITIES, ENTITY_CATEGORIES),
        Inputs(
            "behaviour",
            TRANSACTION + ENTITIES + BEHAVIOUR + TRAVEL_FEATURES + RISK_FEATURES,
            ENTITY_CATEGORIES,
        ),
        Inputs(
            "sessions",
            TRANSACTION + ENTITIES + BEHAVIOUR + TRAVEL_FEATURES + RISK_FEATURES + SESSION_FEATURES,
            ENTITY_CATEGORIES,
        ),
        Inputs("handbook", BOOK_FEATURES),  # the book's 15, for reproducing its baselines
    )
}
DEFAULT_FEATURE_SET = "behaviour"

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # GBT: many small steps and leaves of at least 50 rows generalise across weeks (handbook benchmark).
    "gbt": {
        "maxIter": 100,
        "maxDepth": 5,
        "stepSize": 0.05,
        "subsamplingRate": 0.8,
        "minInstancesPerNode": 50,
    },
    "random_forest": {"numTrees": 100, "maxDepth": 10},
    # XGBoost, the default: with these settings it ranked best of the learners on both worlds
    # (benchmarks/feature_lift.py, handbook_comparison.py).
    "xgboost": {
        "n_estimators": 300,
        "max_depth": 6,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 5,
    },
    "logistic_regression": {"maxIter": 100, "regParam": 0.001, "elasticNetParam": 0.0},
    "isolation_forest": {"numTrees": 100, "maxSamples": 256},
}


def build_pipeline(
    model: ModelSettings,
    inputs: Inputs = FEATURE_SETS[DEFAULT_FEATURE_SET],
    params: dict[str, Any] | None = None,
    seed: int = 42,
) -> Pipeline:
    numeric, categorical = inputs.numeric, inputs.categorical
    indexed = [f"{c}_index" for c in categorical]
    stages: list[Any] = [
        StringIndexer(inputCol=c, outputCol=i, handleInvalid="keep")
        for c, i in zip(categorical, indexed, strict=True)
    ]
    params = {**DEFAULT_PARAMS[model.classifier], **(params or {})}
    if model.anomaly_feature and model.classifier != "isolation_forest":
        # fitted with the rest of the pipeline, so on the training rows only
        stages += [
            VectorAssembler(inputCols=[*numeric, *indexed], outputCol="anomaly_inputs", handleInvalid="keep"),
            IsolationForest(featuresCol="anomaly_inputs", probabilityCol="", scoreCol=ANOMALY_SCORE,
                            seed=seed, **DEFAULT_PARAMS["isolation_forest"]),
        ]  # fmt: skip
        numeric = (*numeric, ANOMALY_SCORE)
    if model.classifier == "logistic_regression":
        encoded = [f"{c}_onehot" for c in categorical]
        if categorical:
            stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"))
        stages += [
            VectorAssembler(inputCols=[*numeric, *encoded], outputCol="raw_features", handleInvalid="keep"),
            StandardScaler(inputCol="raw_features", outputCol=FEATURES),
            LogisticRegression(featuresCol=FEATURES, labelCol=LABEL, weightCol=WEIGHT, **params),
        ]
    elif model.classifier == "isolation_forest":  # unsupervised: label and weight are not read
        stages += [
            VectorAssembler(inputCols=[*numeric, *indexed], outputCol=FEATURES, handleInvalid="keep"),
            IsolationForest(featuresCol=FEATURES, seed=seed, **params),
        ]
    elif model.classifier == "xgboost":
        stages += [
            VectorAssembler(inputCols=[*numeric, *indexed], outputCol=FEATURES, handleInvalid="keep"),
            SparkXGBClassifier(features_col=FEATURES, label_col=LABEL, weight_col=WEIGHT, random_state=seed,
                               num_workers=_spark_task_slots(), tree_method="hist", verbose=False, **params),
        ]  # fmt: skip
    else:
        stages.append(
            VectorAssembler(inputCols=[*numeric, *indexed], outputCol=FEATURES, handleInvalid="keep")
        )
        classifier = GBTClassifier if model.classifier == "gbt" else RandomForestClassifier
        stages.append(
            classifier(
                featuresCol=FEATURES, labelCol=LABEL, weightCol=WEIGHT, seed=seed, maxBins=64, **params
            )
        )
    return Pipeline(stages=stages)


def _spark_task_slots() -> int:
    """XGBoost trains one worker per Spark task, all at once: as many as the cluster runs together."""
    session = SparkSession.getActiveSession()
    return session.sparkContext.defaultParallelism if session is not None else 1
