"""MLflow registry with real Spark and a real SQLite store: register, gate, export, roll back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from fraudguard.config.model import ModelSettings
from fraudguard.stream.champion import ChampionSource
from fraudguard.train import registry
from fraudguard.train.trainer import score, train

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAST = {"n_estimators": 15}


@pytest.fixture(scope="module")
def setup(make_runtime, small_features, tmp_path_factory):
    settings, _ = make_runtime()
    model = ModelSettings(
        search_budget_s=0, daily_alert_budget=20, export_dir=tmp_path_factory.mktemp("models")
    )
    settings = settings.model_copy(update={"model": model})
    good = train(small_features, settings.model, settings.features, params_override=FAST)
    # A deliberately worse model: the same data with labels drawn at random (no signal left).
    shuffled = small_features.withColumn("is_fraud", F.rand(seed=3) < 0.02)
    bad = train(shuffled, settings.model, settings.features, params_override=FAST)
    test_rows = good.split.rows(small_features, "test")
    return settings, good, bad, test_rows


def test_training_registers_a_challenger_with_metrics_and_artifacts(setup, small_features, tmp_path):
    settings, good, _, _ = setup
    version = registry.register(
        good, settings, small_features, data_key="2026-01-01..2026-01-20", data_info={"days": 20}
    )
    client = MlflowClient(settings.mlflow.tracking_uri)
    assert (
        str(client.get_model_version_by_alias("fraud-detector", "challenger").version)
        == str(version.version)
        == "1"
    )
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_auc_pr"] == pytest.approx(good.test_metrics["auc_pr"])
    assert run.data.params["split_test"] == "{}..{}".format(*good.split.test)
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"model", "pr_curve.png", "feature_importances.json", "search.json"} <= artifacts
    importances = json.loads(
        Path(client.download_artifacts(version.run_id, "feature_importances.json", str(tmp_path))).read_text()
    )
    assert set(importances) == {*good.inputs.numeric, *(f"{c}_index" for c in good.inputs.categorical)}
    assert sum(importances.values()) == pytest.approx(1.0) and max(importances.values()) < 1.0
    assert float(version.tags["threshold"]) == pytest.approx(good.threshold)
    again = registry.register(good, settings, small_features, data_key="2026-01-01..2026-01-20", data_info={})
    assert str(again.version) == "1"
    assert len(client.search_model_versions("name = 'fraud-detector'")) == 1


def test_the_gate_promotes_a_first_model_and_refuses_a_worse_one(setup, small_features):
    settings, good, bad, test_rows = setup
    first = registry.register(good, settings, small_features, data_key="good", data_info={})
    decision = registry.promote_if_better(settings, first, test_rows)
    assert decision.promoted and decision.reason == "no champion yet"

    worse = registry.register(bad, settings, small_features, data_key="shuffled", data_info={})
    decision = registry.promote_if_better(settings, worse, test_rows)
    client = MlflowClient(settings.mlflow.tracking_uri)
    assert not decision.promoted
    assert decision.challenger_auc_pr < decision.champion_auc_pr
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) == str(first.version)
    tags = client.get_model_version("fraud-detector", worse.version).tags
    assert tags["promotion_decision"] == "kept challenger"
    assert float(tags["gate_champion_auc_pr"]) == pytest.approx(decision.champion_auc_pr)

    registry.promote(settings, worse.version)  # rollback/forward by hand
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) == str(worse.version)
    registry.promote(settings, first.version)


def test_the_exported_champion_scores_exactly_like_the_registry_copy(setup):
    settings, _, _, test_rows = setup
    exported, metadata = registry.load_export(settings)
    champion = MlflowClient(settings.mlflow.tracking_uri).get_model_version_by_alias(
        "fraud-detector", "champion"
    )
    assert metadata["version"] == str(champion.version)
    assert metadata["threshold"] == pytest.approx(float(champion.tags["threshold"]))
    from_registry = score(registry.load_version(settings, str(champion.version)), test_rows)
    from_export = score(exported, test_rows)
    pd.testing.assert_series_equal(from_export["score"], from_registry["score"], check_exact=True)
    assert json.loads((settings.model.export_dir / "champion" / "metadata.json").read_text())["features"]


def test_a_champion_with_an_impossible_threshold_is_not_served(setup, caplog):
    """A threshold tag edited to 1.5 would stop every alert: the export refuses it, naming the version,
    and a running stream keeps the model it has."""
    settings, _, _, _ = setup
    client = MlflowClient(settings.mlflow.tracking_uri)
    serving = ChampionSource(settings)
    before = serving.current()
    run_id = client.get_model_version("fraud-detector", before.version).run_id
    edited = str(registry.register_run(settings, run_id, data_key="edited threshold").version)
    client.set_model_version_tag("fraud-detector", edited, "threshold", "1.5")

    with pytest.raises(registry.InvalidModel, match=rf"fraud-detector v{edited}: threshold is '1.5'"):
        registry.promote(settings, edited)
    assert str(client.get_model_version_by_alias("fraud-detector", "champion").version) == before.version
    assert registry.load_export(settings)[1]["version"] == before.version, "the export is unchanged"

    client.set_registered_model_alias("fraud-detector", "champion", edited)  # as by hand, in the MLflow UI
    serving._checked_at = -float("inf")  # ask the registry now rather than after `model_poll_s`
    with caplog.at_level("ERROR", logger="fraudguard.stream.model"):
        assert serving.current().version == before.version
    assert "the new champion cannot be served" in caplog.text
    registry.promote(settings, before.version)
