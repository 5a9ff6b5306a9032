"""MLflow: log a training run, register the model as the `challenger`, promote it to `champion` only
when it is at least as good on the same test data, export the champion for when the registry is down.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.spark
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import Model, infer_signature
from pyspark.ml import PipelineModel
from pyspark.ml.feature import StringIndexerModel, VectorAssembler
from pyspark.sql import DataFrame
from sklearn.metrics import precision_recall_curve

from fraudguard.config import Settings
from fraudguard.folders import replacing
from fraudguard.train.calibration import classifier_stage
from fraudguard.train.isolation_forest import IsolationForestModel
from fraudguard.train.metrics import evaluate
from fraudguard.train.pipeline import Inputs
from fraudguard.train.trainer import TrainResult, score

log = logging.getLogger("fraudguard.registry")

CHAMPION, CHALLENGER = "champion", "challenger"
DATA_KEY_TAG = "fraudguard.data_key"
THRESHOLD_TAG = "fraudguard.threshold"
MODEL_ARTIFACT = "model"
SERVING_PACKAGES = ("pyspark", "mlflow", "pandas", "pyarrow", "numpy")
"""What a logged model needs, at the installed (pinned) versions: explicit, so logging does not spend
~25 s inferring them."""


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store; create the experiment (artifacts beside a local store)."""
    uri = settings.mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        (settings.runtime_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    if client.get_experiment_by_name(settings.mlflow.experiment) is None:
        artifacts = (
            (settings.runtime_dir / "mlflow" / "artifacts").as_uri() if uri.startswith("sqlite") else None
        )
        client.create_experiment(settings.mlflow.experiment, artifact_location=artifacts)
    mlflow.set_experiment(settings.mlflow.experiment)
    return client


def find_version(client: MlflowClient, name: str, data_key: str) -> ModelVersion | None:
    """A version already registered for this data (so re-running the same interval adds none)."""
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get(DATA_KEY_TAG) == data_key:
            return version
    return None


def run_of(client: MlflowClient, version: ModelVersion) -> Run:
    """The training run a registered version came from (every version this platform registers has one)."""
    if version.run_id is None:
        raise ValueError(f"{version.name} v{version.version} has no training run")
    return client.get_run(version.run_id)


def find_run(settings: Settings, data_key: str) -> str | None:
    """A finished training run for this data, whose model can be registered without training again."""
    client = connect(settings)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{DATA_KEY_TAG}` = '{data_key}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def register(
    result: TrainResult, settings: Settings, example: DataFrame, data_key: str, data_info: dict[str, Any]
) -> ModelVersion:
    """Log the run and register its model as the challenger; an existing version for `data_key` is
    returned as is."""
    client = connect(settings)
    existing = find_version(client, settings.model.registered_name, data_key)
    if existing is not None:
        return existing
    return register_run(settings, log_run(result, settings, example, data_key, data_info), data_key)


def log_run(
    result: TrainResult, settings: Settings, example: DataFrame, data_key: str, data_info: dict[str, Any]
) -> str:
    """Log a training run (parameters, metrics, plots, the model) tagged with its data; its id."""
    connect(settings)
    with mlflow.start_run(run_name=f"train {data_key}") as run:
        mlflow.set_tags({DATA_KEY_TAG: data_key, THRESHOLD_TAG: str(result.threshold)})
        mlflow.log_params(
            {
                "classifier": settings.model.classifier,
                "feature_set": result.inputs.name,
                "inputs": result.inputs.to_json(),
                "threshold_objective": settings.model.threshold_objective,
                "label_delay_days": settings.features.label_delay_days,
                "early_chargebacks": settings.features.early_chargebacks,
                **_split_params(result),
                **{f"param_{key}": value for key, value in result.params.items()},
                **{f"data_{key}": value for key, value in data_info.items()},
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in result.test_metrics.items()})
        mlflow.log_metrics({f"validation_{k}": v for k, v in result.validation_metrics.items()})
        mlflow.log_metrics({f"rows_{k}": float(v) for k, v in result.rows.items()})
        mlflow.log_dict({"search": result.search}, "search.json")
        mlflow.log_dict(feature_importances(result.model), "feature_importances.json")
        if result.test_scores["label"].any():  # no curve without a labelled fraud
            mlflow.log_figure(pr_curve(result), "pr_curve.png")
        sample = example.select(*result.inputs.columns).limit(5).toPandas()
        signature = infer_signature(sample, result.test_scores["score"].head(5).to_numpy())
        mlflow.spark.log_model(
            result.model,
            artifact_path=MODEL_ARTIFACT,
            signature=signature,
            pip_requirements=[f"{name}=={package_version(name)}" for name in SERVING_PACKAGES],
            metadata=_metadata(result),
        )
    return run.info.run_id


def register_run(settings: Settings, run_id: str, data_key: str) -> ModelVersion:
    """Register a logged run's model as the challenger (once per `data_key`)."""
    client = connect(settings)
    name = settings.model.registered_name
    existing = find_version(client, name, data_key)
    if existing is not None:
        return existing
    threshold = client.get_run(run_id).data.tags[THRESHOLD_TAG]
    registered = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", name)
    version = str(registered.version)
    client.set_model_version_tag(name, version, DATA_KEY_TAG, data_key)
    client.set_model_version_tag(name, version, "threshold", threshold)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return client.get_model_version(name, version)


@dataclass(frozen=True)
class Evaluation:
    """Challenger and champion scored on the same test rows: what the promotion gate decides on."""

    challenger_auc_pr: float
    champion_version: str | None
    champion_auc_pr: float | None


@dataclass(frozen=True)
class Decision:
    promoted: bool
    challenger_version: str
    champion_version: str | None
    challenger_auc_pr: float
    champion_auc_pr: float | None
    reason: str


def champion_version(settings: Settings) -> str | None:
    client = connect(settings)
    try:
        return str(client.get_model_version_by_alias(settings.model.registered_name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def compare_with_champion(settings: Settings, challenger: PipelineModel, test_rows: DataFrame) -> Evaluation:
    """AUC-PR of the challenger and of the current champion (if any) on `test_rows`."""
    challenger_ap = _auc_pr(challenger, test_rows)
    current = champion_version(settings)
    if current is None:
        return Evaluation(challenger_ap, None, None)
    return Evaluation(challenger_ap, current, _auc_pr(load_version(settings, current), test_rows))


def decide(challenger_version: str, evaluation: Evaluation) -> Decision:
    """The gate: promote when there is no champion, or when the challenger's AUC-PR on the same test
    rows is at least the champion's."""
    challenger_ap, champion, champion_ap = (
        evaluation.challenger_auc_pr, evaluation.champion_version, evaluation.champion_auc_pr
    )  # fmt: skip
    if champion is None or champion_ap is None:
        return Decision(True, challenger_version, None, challenger_ap, None, "no champion yet")
    if champion == challenger_version:
        return Decision(False, challenger_version, champion, challenger_ap, champion_ap, "already champion")
    better = challenger_ap >= champion_ap
    comparison = ">=" if better else "<"
    reason = f"AUC-PR {challenger_ap:.4f} {comparison} champion v{champion} {champion_ap:.4f}"
    return Decision(better, challenger_version, champion, challenger_ap, champion_ap, reason)


def record_decision(settings: Settings, decision: Decision) -> None:
    """The decision and both scores as tags on the challenger version (shown by `model show`)."""
    client = connect(settings)
    name = settings.model.registered_name
    for key, value in {
        "promotion_decision": "promoted" if decision.promoted else "kept challenger",
        "promotion_reason": decision.reason,
        "gate_challenger_auc_pr": f"{decision.challenger_auc_pr:.6f}",
        "gate_champion_auc_pr": "" if decision.champion_auc_pr is None else f"{decision.champion_auc_pr:.6f}",
    }.items():
        client.set_model_version_tag(name, decision.challenger_version, key, value)


def promote_if_better(settings: Settings, version: ModelVersion, test_rows: DataFrame) -> Decision:
    """Compare, decide, record, and promote when the gate says so."""
    challenger = str(version.version)
    evaluation = compare_with_champion(settings, load_version(settings, challenger), test_rows)
    decision = decide(challenger, evaluation)
    record_decision(settings, decision)
    if decision.promoted:
        promote(settings, challenger)
    return decision


def promote(settings: Settings, version: str) -> Path:
    """Make `version` the champion (also the rollback path) and export it to `model.export_dir`."""
    client = connect(settings)
    name = settings.model.registered_name
    threshold_of(client.get_model_version(name, version).tags, f"{name} v{version}")  # before any change
    client.set_registered_model_alias(name, CHAMPION, str(version))
    return export(settings, str(version))


def export(settings: Settings, version: str) -> Path:
    """The champion as a plain PipelineModel folder plus metadata.json, replaced atomically."""
    client = connect(settings)
    name = settings.model.registered_name
    model_version = client.get_model_version(name, version)
    target = settings.model.export_dir / "champion"
    inputs = Inputs.of_run(run_of(client, model_version).data.params)
    metadata = {
        "name": name,
        "version": version,
        "run_id": model_version.run_id,
        "threshold": threshold_of(model_version.tags, f"{name} v{version}"),
        "feature_set": inputs.name,
        "features": inputs.columns,
    }
    with replacing(target) as staging:
        # The registered files as they are: exporting (a rollback) needs no Spark.
        download = staging / "registered"
        download.mkdir()
        logged = Path(
            mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(download))
        )
        data = Model.load(str(logged / "MLmodel")).flavors["spark"]["model_data"]
        (logged / data).rename(staging / "pipeline")
        shutil.rmtree(download)
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    log.info("champion exported", extra={"version": version, "folder": str(target)})
    return target


class InvalidModel(ValueError):
    """A registered or exported model that must not be served as it is."""


def threshold_of(tags: dict[str, Any], where: str) -> float:
    """The alert threshold a model was registered with: a probability, or an error saying where."""
    text = tags.get("threshold")
    try:
        value = float(text if text is not None else math.nan)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise InvalidModel(f"{where}: threshold is {text!r}; expected a number from 0 to 1")
    return value


def load_version(settings: Settings, version: str) -> PipelineModel:
    connect(settings)
    return mlflow.spark.load_model(f"models:/{settings.model.registered_name}/{version}")


def load_run_model(settings: Settings, run_id: str) -> PipelineModel:
    connect(settings)
    return mlflow.spark.load_model(f"runs:/{run_id}/{MODEL_ARTIFACT}")


def load_export(settings: Settings) -> tuple[PipelineModel, dict[str, Any]]:
    folder = settings.model.export_dir / "champion"
    return PipelineModel.load(str(folder / "pipeline")), json.loads((folder / "metadata.json").read_text())


def feature_importances(model: PipelineModel) -> dict[str, float]:
    """Each input's share of the trees' gain (MLlib's importances, XGBoost's total gain); empty for a
    model without trees."""
    classifier, names = classifier_stage(model), _assembled_inputs(model)
    if hasattr(classifier, "featureImportances"):
        values = [float(value) for value in classifier.featureImportances.toArray()]
    elif hasattr(classifier, "get_booster"):
        gains = classifier.get_booster().get_score(importance_type="total_gain")
        total = sum(gains.values()) or 1.0
        values = [gains.get(f"f{index}", 0.0) / total for index in range(len(names))]
    else:
        return {}
    return dict(sorted(zip(names, values, strict=True), key=lambda item: -item[1]))


def _assembled_inputs(model: PipelineModel) -> list[str]:
    """The classifier's input columns, in its feature vector's order (the last assembler's)."""
    return [stage for stage in model.stages if isinstance(stage, VectorAssembler)][-1].getInputCols()


def anomaly_population(model: PipelineModel) -> dict[str, tuple[float, ...]]:
    """An isolation forest champion's numeric inputs, each with its quantiles over the rows the forest
    was fitted on (what its alerts' reasons compare with); empty for any other model."""
    forest = classifier_stage(model)
    if not isinstance(forest, IsolationForestModel) or forest.quantiles is None:
        return {}
    indexed = {stage.getOutputCol() for stage in model.stages if isinstance(stage, StringIndexerModel)}
    named = zip(_assembled_inputs(model), forest.quantiles, strict=True)
    return {name: tuple(map(float, quantiles)) for name, quantiles in named if name not in indexed}


def pr_curve(result: TrainResult):
    scores = result.test_scores
    precision, recall, _ = precision_recall_curve(scores["label"], scores["score"])
    figure = Figure(figsize=(5, 4))  # no pyplot: no global state, no display backend
    axes = figure.subplots()
    axes.plot(recall, precision)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(f"test days, AUC-PR {result.test_metrics['auc_pr']:.3f}")
    return figure


def _auc_pr(model: PipelineModel, rows: DataFrame) -> float:
    return evaluate(score(model, rows), threshold=1.0)["auc_pr"]


def _split_params(result: TrainResult) -> dict[str, str]:
    return {f"split_{part}": rows for part, rows in result.split.describe().items()}


def _metadata(result: TrainResult) -> dict[str, Any]:
    return {
        "threshold": result.threshold,
        "feature_set": result.inputs.name,
        "features": result.inputs.columns,
    }
