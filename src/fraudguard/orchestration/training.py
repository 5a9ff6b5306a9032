"""The nightly retraining, one function per task of the `fraud_model_training` DAG.

    generate ─ assemble ─ validate ─ train ─ evaluate ─ register ─ gate ─┬ promote ─ restart stream
                                                                        └ keep champion

A run trains on a new synthetic world (`dataset` "faker", the default) or on an imported dataset
(`fraudguard data import`): then there is nothing to generate or assemble, and the model registered,
gated and promoted is that dataset's own (`train.imported`).

Each function takes the settings and the run (its data interval and the form's choices) and returns
what the next task needs as plain JSON (Airflow XCom). Everything a run writes lives in one folder
named by its data interval, and the model it registers is tagged with the same key, so re-running an
interval regenerates the same data and registers no second version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fraudguard.config import Settings
from fraudguard.config.model import SimulatorSettings
from fraudguard.data.naming import WORLD

log = logging.getLogger("fraudguard.training")
SPARK_APP = "fraudguard-training"


@dataclass(frozen=True)
class TrainingRun:
    """What one DAG run works on: its data interval and the choices made in the trigger form."""

    interval_start: datetime
    interval_end: datetime
    window_days: int
    users: int
    fraud_rate: float
    classifier: str
    include_scored_history: bool
    include_confirmed_labels: bool
    dataset: str = WORLD
    anomaly_feature: bool = False

    @classmethod
    def from_context(cls, settings: Settings, context: Mapping[str, Any]) -> TrainingRun:
        """From an Airflow task context. A run without a data interval (triggered with no logical
        date) covers the day before it was triggered."""
        end = context.get("data_interval_end") or context["dag_run"].run_after
        start = context.get("data_interval_start") or end - timedelta(days=1)
        defaults = default_choices(settings)
        chosen = {k: v for k, v in (context.get("params") or {}).items() if k in defaults and v is not None}
        return cls(start, end, **{**defaults, **chosen})

    @property
    def choices(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("interval_")}

    @property
    def data_key(self) -> str:
        """The registry tag that makes a re-run of the same interval and choices register nothing new."""
        digest = hashlib.sha256(json.dumps(self.choices, sort_keys=True).encode()).hexdigest()[:8]
        return f"interval {self.interval_start.isoformat()}..{self.interval_end.isoformat()} {digest}"

    def folder(self, settings: Settings) -> Path:
        digest = hashlib.sha256(self.data_key.encode()).hexdigest()[:8]
        return settings.runtime_dir / "training" / f"{self.interval_end:%Y%m%dT%H%M%S}-{digest}"

    @property
    def imported(self) -> bool:
        return self.dataset != WORLD

    def imported_dataset(self, settings: Settings):
        """The imported dataset this run trains on (by name, where `data import` writes it)."""
        from fraudguard.data.schema import DatasetError
        from fraudguard.train.imported import ImportedDataset

        try:
            return ImportedDataset.named(settings, self.dataset)
        except DatasetError as error:
            raise DatasetError(f"{error}, or choose {WORLD!r}") from None

    def settings(self, settings: Settings) -> Settings:
        """The settings this run trains, registers and promotes with: the form's classifier and anomaly
        feature, and for an imported dataset its own registered model and export."""
        if self.imported:
            settings = self.imported_dataset(settings).model_settings(settings)
        return settings.model_copy(
            update={
                "model": settings.model.model_copy(
                    update={"classifier": self.classifier, "anomaly_feature": self.anomaly_feature}
                )
            }
        )


def default_choices(settings: Settings) -> dict[str, Any]:
    """The trigger form's defaults, from the configuration."""
    return {
        "window_days": settings.training.window_days,
        "users": settings.simulator.users,
        "fraud_rate": settings.simulator.fraud_rate,
        "classifier": settings.model.classifier,
        "include_scored_history": settings.training.include_scored_history,
        "include_confirmed_labels": settings.training.include_confirmed_labels,
        "dataset": WORLD,
        "anomaly_feature": settings.model.anomaly_feature,
    }


def simulator_for(settings: Settings, run: TrainingRun) -> SimulatorSettings:
    """The window's world: new every night (the seed moves with the interval), the same on a re-run.
    Merchants scale with the users chosen in the form, as in the configured world."""
    base = settings.simulator
    merchants = max(20, round(base.merchants * run.users / base.users))
    return base.model_copy(
        update={
            "seed": base.seed + run.interval_end.toordinal(),
            "start_date": run.interval_end.date() - timedelta(days=run.window_days),
            "days": run.window_days,
            "users": run.users,
            "merchants": merchants,
            "fraud_rate": run.fraud_rate,
        }
    )


def generate(settings: Settings, run: TrainingRun) -> dict[str, Any]:
    """Faker data for the window ending where the data interval ends (an imported dataset: none)."""
    from fraudguard.simulate.batch import write_batch
    from fraudguard.simulate.timeline import FakerWorldTimeline

    if run.imported:
        dataset = run.imported_dataset(settings)
        return {"path": str(dataset.path), "imported": run.dataset, "rows": dataset.schema.rows}

    world = simulator_for(settings, run)
    out = run.folder(settings) / "synthetic"
    summary = write_batch(FakerWorldTimeline(world), out, world.model_dump(mode="json"), overwrite=True)
    log.info("synthetic data written", extra={"path": str(out), "transactions": summary.transactions})
    return {"path": str(out), "first_day": str(world.start_date), **asdict(summary)}


def assemble_training_set(settings: Settings, run: TrainingRun) -> dict[str, Any]:
    """Synthetic data + the stream's scored history + the labels topic, as one dataset (an imported
    dataset is used as it is)."""
    from fraudguard.config import TopicRole
    from fraudguard.schemas import LABEL
    from fraudguard.spark import spark_session
    from fraudguard.stream.scoring import record_tables
    from fraudguard.stream.sources import topic_records
    from fraudguard.train.assemble import Sources, assemble

    if run.imported:
        return {"path": str(run.imported_dataset(settings).path), "imported": run.dataset}
    folder = run.folder(settings)
    spark = spark_session(settings, SPARK_APP)
    history = settings.stream.scored_history_dir if run.include_scored_history else None
    users, merchants = record_tables(spark, settings) if history else (None, None)
    sources = Sources(
        synthetic=folder / "synthetic",
        history=history,
        history_users=users.toPandas() if users is not None else None,
        history_merchants=merchants.toPandas() if merchants is not None else None,
        history_labels=topic_records(spark, settings, TopicRole.LABELS, LABEL) if history else None,
        include_reviews=run.include_confirmed_labels,
    )
    summary = assemble(spark, sources, run.interval_end, folder / "training_set")
    log.info("training set assembled", extra=asdict(summary))
    return {"path": str(folder / "training_set"), **asdict(summary)}


def validate_training_set(settings: Settings, run: TrainingRun) -> list[dict[str, Any]]:
    """Raises `DataValidationError` naming every failed check and its numbers."""
    from fraudguard.spark import spark_session
    from fraudguard.train.imported import split_of
    from fraudguard.train.job import Dataset
    from fraudguard.train.validate import require_valid, validate, validate_imported

    spark = spark_session(settings, SPARK_APP)
    if run.imported:
        dataset = run.imported_dataset(settings)
        rows = dataset.rows(spark)
        return require_valid(validate_imported(rows, split_of(settings, dataset.schema, rows), settings))
    frames = Dataset(run.folder(settings) / "training_set").frames(spark)
    return require_valid(validate(*frames, run.settings(settings)))


def train_model(settings: Settings, run: TrainingRun) -> dict[str, Any]:
    """Fit and log an MLflow run (model, metrics, plots); the test days' features are kept for the
    gate. A finished run for the same data is reused instead of training again."""

    from fraudguard.spark import spark_session
    from fraudguard.train import registry
    from fraudguard.train.job import Dataset, fit

    settings = run.settings(settings)
    folder = run.folder(settings)
    existing = registry.find_run(settings, run.data_key)
    if existing and (folder / "test_features").exists():
        log.info("training run reused", extra={"run_id": existing, "data_key": run.data_key})
        return {"run_id": existing, "reused": True}
    spark = spark_session(settings, SPARK_APP)
    dataset = run.imported_dataset(settings) if run.imported else Dataset(folder / "training_set")
    if existing:  # trained before; only its test days' features are missing
        prepared = dataset.prepare(spark, settings)
        test_rows = prepared.split.rows(prepared.features, "test")
        test_rows.write.mode("overwrite").parquet(str(folder / "test_features"))
        prepared.features.unpersist()
        return {"run_id": existing, "reused": True}
    fitted = fit(spark, settings, dataset, on_step=log.info)
    features, result = fitted.prepared.features, fitted.result
    result.split.rows(features, "test").write.mode("overwrite").parquet(str(folder / "test_features"))
    info = {**dataset.info(), "interval_end": run.interval_end.isoformat(), **run.choices}
    run_id = registry.log_run(result, settings, features, run.data_key, info)
    features.unpersist()
    metrics = {k: round(v, 6) for k, v in result.test_metrics.items()}
    log.info("model trained", extra={"run_id": run_id, **metrics})
    return {"run_id": run_id, "reused": False, "test_metrics": metrics, "rows": result.rows}


def evaluate_challenger(settings: Settings, run: TrainingRun, run_id: str) -> dict[str, Any]:
    """The new model and the current champion scored on the same test days."""
    from fraudguard.spark import spark_session
    from fraudguard.train import registry

    settings = run.settings(settings)
    spark = spark_session(settings, SPARK_APP)
    test_rows = spark.read.parquet(str(run.folder(settings) / "test_features"))
    evaluation = registry.compare_with_champion(
        settings, registry.load_run_model(settings, run_id), test_rows
    )
    log.info("challenger evaluated", extra=asdict(evaluation))
    return asdict(evaluation)


def register_challenger(settings: Settings, run: TrainingRun, run_id: str) -> str:
    """The run's model as a new version with alias `challenger` (the existing one on a re-run)."""
    from fraudguard.train import registry

    version = str(registry.register_run(run.settings(settings), run_id, run.data_key).version)
    log.info("challenger registered", extra={"version": version, "data_key": run.data_key})
    return version


def promotion_gate(
    settings: Settings, run: TrainingRun, version: str, evaluation: Mapping[str, Any]
) -> dict[str, Any]:
    """Decide, and record the decision on the version (its tags); promotion is the next task."""
    from fraudguard.train import registry

    decision = registry.decide(version, registry.Evaluation(**evaluation))
    registry.record_decision(run.settings(settings), decision)
    log.info("promotion gate", extra=asdict(decision))
    return asdict(decision)


def promote_champion(settings: Settings, run: TrainingRun, version: str) -> dict[str, str]:
    from fraudguard.spark import spark_session
    from fraudguard.train import registry

    spark_session(settings, SPARK_APP)  # the export writes the PipelineModel with Spark
    path = registry.promote(run.settings(settings), version)
    log.info("champion promoted", extra={"version": version, "export": str(path)})
    return {"version": version, "export": str(path)}


def restart_stream(settings: Settings, run: TrainingRun, config_path: str) -> dict[str, Any]:
    """After a promotion, the running job that serves this run's dataset serves the new champion now."""
    from fraudguard.orchestration.stream_lifecycle import restart_if_running
    from fraudguard.stream.control import for_dataset

    return restart_if_running(
        for_dataset(settings, None if run.dataset == WORLD else run.dataset), config_path
    )
