"""Training on an imported dataset (`fraudguard data import`): the same trainer, metrics, registry and
promotion gate as the simulated world, with the dataset's own columns as the model's inputs.

Each dataset has its registered model (`<model.registered_name>-<dataset>`) with its own champion and
export, so a team's data never replaces the simulated world's model. Rows are split by time when the
dataset has a time column (the last rows test, those before them validate), and at random otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudguard.config import Settings
from fraudguard.data.naming import dataset_folder, dataset_model
from fraudguard.data.schema import ROWS_DIR, SCHEMA_FILE, DatasetError, DatasetSchema
from fraudguard.train.job import Prepared
from fraudguard.train.pipeline import Inputs
from fraudguard.train.trainer import RowSplit


@dataclass(frozen=True)
class ImportedDataset:
    path: Path

    @staticmethod
    def at(path: Path) -> bool:
        return (path / SCHEMA_FILE).exists()

    @classmethod
    def named(cls, settings: Settings, name: str) -> ImportedDataset:
        """The dataset `data import` wrote under this name."""
        return cls(dataset_folder(settings, name))

    @cached_property
    def schema(self) -> DatasetSchema:
        return DatasetSchema.load(self.path)

    def rows(self, spark: SparkSession) -> DataFrame:
        return spark.read.parquet(str(self.path / ROWS_DIR))

    def key(self) -> str:
        """Identifies the data (its schema, with its row count and import time)."""
        return hashlib.sha256((self.path / SCHEMA_FILE).read_bytes()).hexdigest()[:16]

    def model_settings(self, settings: Settings) -> Settings:
        return settings_for(settings, self.schema)

    def info(self) -> dict[str, Any]:
        return {"path": str(self.path), "rows": self.schema.rows}

    def prepare(self, spark: SparkSession, settings: Settings, feature_set: str = "") -> Prepared:
        """The dataset's rows as they are: its own columns are the inputs (`feature_set` is for
        simulated datasets)."""
        rows = self.rows(spark).cache()
        return Prepared(rows, split_of(settings, self.schema, rows), self.inputs())

    def inputs(self) -> Inputs:
        schema = self.schema
        if not schema.numeric and not schema.categorical:
            raise DatasetError(f"{self.path}: no column is a model input (numeric or categorical)")
        return Inputs(f"dataset {schema.name}", tuple(schema.numeric), tuple(schema.categorical))


@dataclass(frozen=True)
class TimeShareSplit:
    """By event time: the last `test_share` of the rows test, the `validation_share` before them
    validate (search and threshold), the earlier rows train."""

    validation_from: datetime
    test_from: datetime

    @classmethod
    def of(cls, rows: DataFrame, validation_share: float, test_share: float) -> TimeShareSplit:
        seconds = rows.select(F.unix_micros("timestamp").alias("t"))
        quantiles = seconds.approxQuantile("t", [1 - test_share - validation_share, 1 - test_share], 1e-4)
        start, end = (datetime.fromtimestamp(q / 1e6, UTC) for q in quantiles)
        return cls(start, end)

    def rows(self, features: DataFrame, part: str) -> DataFrame:
        at = F.col("timestamp")
        low, high = F.lit(self.validation_from), F.lit(self.test_from)
        return features.where(
            {"train": at < low, "validation": (at >= low) & (at < high), "test": at >= high}[part]
        )

    def describe(self) -> dict[str, str]:
        start, end = self.validation_from.isoformat(), self.test_from.isoformat()
        return {"train": f"..{start}", "validation": f"{start}..{end}", "test": f"{end}.."}


@dataclass(frozen=True)
class RandomSplit:
    """For a dataset without time: each row drawn by a hash of its id and a seed (the same rows on every
    run, anywhere), so every part has the dataset's fraud share in expectation."""

    validation_share: float
    test_share: float
    seed: int

    def rows(self, features: DataFrame, part: str) -> DataFrame:
        draw = F.abs(F.xxhash64("transaction_id", F.lit(self.seed)) % 1_000_000) / 1_000_000
        test, validation = self.test_share, self.test_share + self.validation_share
        return features.where(
            {
                "test": draw < test,
                "validation": (draw >= test) & (draw < validation),
                "train": draw >= validation,
            }[part]
        )

    def describe(self) -> dict[str, str]:
        train_share = 1 - self.validation_share - self.test_share
        shares = {"train": train_share, "validation": self.validation_share, "test": self.test_share}
        return {part: f"random {share:.0%} (seed {self.seed})" for part, share in shares.items()}


def settings_for(settings: Settings, schema: DatasetSchema) -> Settings:
    """The settings a dataset's model is trained, registered and exported with."""
    model = dataset_model(settings, schema.name).model_copy(
        update={
            "classifier": settings.datasets.classifier,
            # daily alert budgets need days; a dataset without time is held to a precision instead
            "threshold_objective": settings.model.threshold_objective if schema.has_time else "min_precision",
        }
    )
    return settings.model_copy(update={"model": model})


def split_of(settings: Settings, schema: DatasetSchema, rows: DataFrame) -> RowSplit:
    shares = settings.datasets.validation_share, settings.datasets.test_share
    if schema.has_time:
        return TimeShareSplit.of(rows, *shares)
    return RandomSplit(*shares, seed=settings.datasets.split_seed)
