"""The training job: dataset -> features -> fit -> register the challenger -> promotion gate.

What `fraudguard train` and the nightly Airflow DAG both run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession

from fraudguard.config import Settings
from fraudguard.features.batch import build_features, with_labels
from fraudguard.features.sessions import SESSION_FEATURES
from fraudguard.train import registry
from fraudguard.train.pipeline import DEFAULT_FEATURE_SET, FEATURE_SETS, Inputs
from fraudguard.train.trainer import RowSplit, Split, TrainResult, train


@dataclass(frozen=True)
class Prepared:
    """A dataset made ready to train on or evaluate: its feature rows (cached), split and model inputs."""

    features: DataFrame
    split: RowSplit
    inputs: Inputs


class TrainingData(Protocol):
    """What a model can be trained on: a simulated dataset (`Dataset`) or an imported one."""

    @property
    def path(self) -> Path: ...

    def model_settings(self, settings: Settings) -> Settings:
        """The settings its model is trained, registered and served with."""
        ...

    def prepare(self, spark: SparkSession, settings: Settings, feature_set: str) -> Prepared: ...

    def key(self) -> str:
        """Identifies the data, so training the same data twice registers one version."""
        ...

    def info(self) -> dict[str, Any]:
        """What the training run records about the data."""
        ...


@dataclass(frozen=True)
class Dataset:
    """A batch dataset as written by `fraudguard simulate batch`."""

    path: Path

    def frames(self, spark: SparkSession) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
        """Transactions (`is_fraud` from the labels, `with_labels`), users, merchants and labels."""
        for part in ("transactions", "users.parquet", "merchants.parquet", "labels.parquet"):
            if not (self.path / part).exists():
                raise FileNotFoundError(f"{self.path} is not a fraudguard dataset: {part} is missing")
        labels = spark.read.parquet(str(self.path / "labels.parquet"))
        return (
            with_labels(spark.read.parquet(str(self.path / "transactions")).drop("day"), labels),
            spark.read.parquet(str(self.path / "users.parquet")),
            spark.read.parquet(str(self.path / "merchants.parquet")),
            labels,
        )

    def sessions(self, spark: SparkSession) -> DataFrame:
        """Its browsing events (`sessions/`); an error names what is missing when it has none."""
        folder = self.path / "sessions"
        if not any(folder.rglob("*.parquet")):
            raise FileNotFoundError(
                f"{folder}: no browsing events; session features need a dataset with sessions "
                "(`fraudguard simulate batch` writes them for the Faker world)"
            )
        return spark.read.parquet(str(folder)).drop("day")

    def model_settings(self, settings: Settings) -> Settings:
        return settings

    def prepare(
        self, spark: SparkSession, settings: Settings, feature_set: str = DEFAULT_FEATURE_SET
    ) -> Prepared:
        inputs = FEATURE_SETS[feature_set]
        sessions = self.sessions(spark) if set(inputs.numeric) & set(SESSION_FEATURES) else None
        features = build_features(*self.frames(spark), settings.features, sessions).cache()
        return Prepared(features, Split.of(features, settings.model, settings.features), inputs)

    def key(self) -> str:
        """Its manifest's digest."""
        manifest = self.path / "manifest.json"
        content = manifest.read_bytes() if manifest.exists() else str(self.path.resolve()).encode()
        return hashlib.sha256(content).hexdigest()[:16]

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path)}


@dataclass(frozen=True)
class Fitted:
    prepared: Prepared
    result: TrainResult


def fit(
    spark: SparkSession,
    settings: Settings,
    data: TrainingData,
    feature_set: str = DEFAULT_FEATURE_SET,
    on_step: Callable[[str], None] = lambda _: None,
) -> Fitted:
    """Features, split and a trained model: the part of training that `fraudguard train` and the DAG's
    training task share (`settings` are the data's `model_settings`)."""
    on_step("computing features")
    prepared = data.prepare(spark, settings, feature_set)
    split = prepared.split
    on_step(f"split: {', '.join(f'{part} {rows}' for part, rows in split.describe().items())}")
    result = train(
        prepared.features, settings.model, settings.features, prepared.inputs, on_step=on_step, split=split
    )
    return Fitted(prepared, result)


@dataclass(frozen=True)
class Outcome:
    result: TrainResult
    version: str
    decision: registry.Decision


def run_training(
    spark: SparkSession,
    settings: Settings,
    data: TrainingData,
    feature_set: str = DEFAULT_FEATURE_SET,
    on_step: Callable[[str], None] = lambda _: None,
) -> Outcome:
    """Train, register the challenger and promote it if it beats the champion, with the data's own
    model settings."""
    settings = data.model_settings(settings)
    fitted = fit(spark, settings, data, feature_set, on_step)
    features, result = fitted.prepared.features, fitted.result
    on_step("registering the challenger")
    data_key = f"{data.key()}:{fitted.prepared.inputs.name}:{settings.model.classifier}"
    version = registry.register(result, settings, features, data_key, data.info())
    on_step("promotion gate")
    decision = registry.promote_if_better(settings, version, result.split.rows(features, "test"))
    features.unpersist()
    return Outcome(result, str(version.version), decision)
