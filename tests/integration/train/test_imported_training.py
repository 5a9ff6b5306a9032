"""Training on imported datasets with real Spark and a real MLflow store: each dataset its own
registered model and champion, split by time when it has a time column and at random otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from mlflow import MlflowClient

from fraudguard.data.importer import ImportOptions, import_dataset
from fraudguard.data.reading import SourceFile
from fraudguard.data.schema import DatasetError, Role
from fraudguard.orchestration import training
from fraudguard.paths import RuntimePaths
from fraudguard.train import registry
from fraudguard.train.imported import ImportedDataset, RandomSplit, TimeShareSplit
from fraudguard.train.job import run_training
from tests.data_files import generic_table
from tests.samples.datasets import creditcard_csv, paysim_csv, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(make_runtime, spark, tmp_path_factory):
    settings, _ = make_runtime(FRAUDGUARD__MODEL__SEARCH_BUDGET_S="0", FRAUDGUARD__MODEL__MIN_PRECISION="0.3")
    settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"export_dir": settings.runtime_dir / "models"})}
    )
    files = tmp_path_factory.mktemp("files")
    paysim = ImportedDataset(settings.runtime_dir / "datasets" / "paysim")
    import_dataset(
        SourceFile(paysim_csv(files / "paysim.csv", 20_000, fraud_rate=0.03)),
        paysim.path,
        ImportOptions("paysim", "paysim", start=datetime(2026, 2, 1, tzinfo=UTC)),
    )
    untimed = ImportedDataset(settings.runtime_dir / "datasets" / "untimed")
    table = generic_table(6_000).drop_columns(["booked_at"])
    import_dataset(
        SourceFile(write_csv(table, files / "untimed.csv", quoted_header=False)),
        untimed.path,
        ImportOptions("csv", "untimed", label="chargeback", id="payment_ref", roles={"items": Role.NUMERIC}),
    )
    return settings, {
        name: (dataset, run_training(spark, settings, dataset))
        for name, dataset in (("paysim", paysim), ("untimed", untimed))
    }


def test_a_training_run_on_a_dataset_that_was_not_imported_names_it(make_runtime):
    settings, _ = make_runtime()
    run = training.TrainingRun.from_context(
        settings, {"data_interval_end": datetime(2026, 3, 2, tzinfo=UTC), "params": {"dataset": "nope"}}
    )
    with pytest.raises(DatasetError, match="no imported dataset 'nope'"):
        training.generate(settings, run)


def test_each_dataset_gets_its_own_registered_champion_and_export(trained):
    settings, outcomes = trained
    client = MlflowClient(settings.mlflow.tracking_uri)
    for name, (dataset, outcome) in outcomes.items():
        registered = f"{settings.model.registered_name}-{name}"
        assert outcome.decision.promoted and outcome.version == "1"
        champion = client.get_model_version_by_alias(registered, registry.CHAMPION)
        params = client.get_run(champion.run_id).data.params
        assert params["classifier"] == "logistic_regression" == settings.datasets.classifier
        assert params["feature_set"] == f"dataset {name}"
        assert (settings.model.export_dir / "datasets" / name / "champion" / "pipeline").is_dir()
        assert outcome.result.inputs.columns == dataset.schema.numeric + dataset.schema.categorical
    assert client.search_registered_models(f"name = '{settings.model.registered_name}'") == []


def test_a_timed_dataset_tests_on_its_last_rows_and_learns_the_signal(trained):
    _, outcomes = trained
    _, outcome = outcomes["paysim"]
    split, scores = outcome.result.split, outcome.result.test_scores
    assert isinstance(split, TimeShareSplit)
    assert scores["timestamp"].min() >= split.test_from.replace(tzinfo=None)  # Spark: UTC, naive
    assert 0.15 < len(scores) / 20_000 < 0.25
    metrics = outcome.result.test_metrics
    assert metrics["auc_pr"] > 5 * metrics["frauds"] / metrics["transactions"]
    assert "alerts_per_day" in metrics


def test_a_dataset_without_time_is_split_at_random_and_held_to_a_precision(trained):
    settings, outcomes = trained
    _, outcome = outcomes["untimed"]
    result = outcome.result
    assert isinstance(result.split, RandomSplit)
    assert result.split.describe()["test"] == "random 20% (seed 42)"
    assert 0.17 < result.rows["test"] / 6_000 < 0.23
    assert "alerts_per_day" not in result.test_metrics and "timestamp" not in result.test_scores
    assert result.validation_metrics["precision_at_threshold"] >= settings.model.min_precision
    assert (
        result.test_metrics["auc_pr"]
        > 3 * result.test_metrics["frauds"] / result.test_metrics["transactions"]
    )


def test_the_nightly_dag_tasks_train_gate_and_promote_an_imported_datasets_model(trained, tmp_path):
    """The form chose an imported dataset: nothing generated, its own model trained, gated, promoted."""
    settings, _ = trained
    path = RuntimePaths(settings.runtime_dir).datasets / "creditcard"
    import_dataset(SourceFile(creditcard_csv(tmp_path / "creditcard.csv", 12_000, fraud_rate=0.02)), path,
                   ImportOptions("creditcard", "creditcard"))  # fmt: skip
    chosen = {"dataset": "creditcard", "classifier": "logistic_regression"}
    context = {"data_interval_end": datetime(2026, 3, 2, 2, tzinfo=UTC), "params": chosen}
    run = training.TrainingRun.from_context(settings, context)
    assert training.generate(settings, run) == {"path": str(path), "imported": "creditcard", "rows": 12_000}
    training.assemble_training_set(settings, run)
    checks = {check["name"]: check for check in training.validate_training_set(settings, run)}
    assert (
        all(check["passed"] for check in checks.values())
        and "frauds: train" in checks["frauds_per_part"]["detail"]
    )
    run_id = training.train_model(settings, run)["run_id"]
    evaluation = training.evaluate_challenger(settings, run, run_id)
    assert evaluation["champion_version"] is None
    version = training.register_challenger(settings, run, run_id)
    assert training.promotion_gate(settings, run, version, evaluation)["promoted"]
    training.promote_champion(settings, run, version)
    restart = training.restart_stream(settings, run, "unused")
    assert restart["reason"] == "the stream is not running"  # the creditcard job's, not the world's

    client = MlflowClient(settings.mlflow.tracking_uri)
    champion = client.get_model_version_by_alias("fraud-detector-creditcard", registry.CHAMPION)
    assert str(champion.version) == version == "1"
    params = client.get_run(champion.run_id).data.params
    assert params["feature_set"] == "dataset creditcard" and params["classifier"] == "logistic_regression"
    assert (settings.model.export_dir / "datasets" / "creditcard" / "champion" / "metadata.json").exists()
