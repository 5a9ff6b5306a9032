"""The platform's parts in start order, each with its start, stop, health check and log.

Steps (topics) only start; services also stop and report their health. A part that was already running
is used as is and left running at the end. What the first alert needs starts by stages (`Stage`): the
broker beside the streaming job's launch (its Spark session and model load while Kafka starts; it waits
for its topics), the topics, then the live traffic begins, the alert service, and the wait for the
streaming job's query; the rest (the first model's training, the MLflow UI, Airflow) start together once
the first alert is on the dashboard.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from fraudguard.alerts import control as alerts
from fraudguard.background import YIELDING, Background, Launched
from fraudguard.config import CONFIG_PATH_VAR, Settings
from fraudguard.config.model import Classifier
from fraudguard.kafka.local_broker import control as broker
from fraudguard.kafka.topics import ensure_topics
from fraudguard.orchestration.local_airflow import ADMIN_USER, LocalAirflow
from fraudguard.paths import RuntimePaths
from fraudguard.platform import mlflow_ui
from fraudguard.stream import control as stream


@dataclass(frozen=True)
class Started:
    detail: str  # what the user needs: an address, a version
    started: bool  # False: it was already running (left running at the end)
    verb: str | None = None  # what the status line says it did, when not "started" or "ready"


class Stage(IntEnum):
    """When a part starts: stage after stage, the parts of one stage together."""

    BROKER = 0  # Kafka, and beside it the streaming job's launch with the model it will serve
    TOPICS = 1
    ALERTS = 2  # the live traffic begins before this stage, so the stream's first micro-batch has some
    STREAM = 3  # the streaming job's query runs
    LATER = 4  # once the first alert is on the dashboard


TRAFFIC_STAGE = Stage.ALERTS


@dataclass(frozen=True)
class Part:
    name: str
    start: Callable[[], Started]
    log: Path
    stop: Callable[[], object] | None = None  # None: a step, nothing to stop
    healthy: Callable[[], bool] | None = None
    stage: Stage = Stage.BROKER


def parts(settings: Settings, config_path: Path) -> list[Part]:
    paths = RuntimePaths(settings.runtime_dir)
    airflow, ui = LocalAirflow(settings, config_path), mlflow_ui.server(settings)
    found: list[Part] = []
    if settings.kafka.uses_local_broker:
        found.append(
            Part("Kafka", lambda: _broker(settings), paths.kafka_log(1),
                 lambda: broker.stop(settings), lambda: bool(broker.running_nodes(settings)))
        )  # fmt: skip
    training, job = first_training(settings), StreamStart(settings, config_path)
    found += [
        Part("streaming job", job.launch, paths.stream_log(), lambda: stream.stop(settings)),
        Part("topics", lambda: _topics(settings), paths.kafka_log(1), stage=Stage.TOPICS),
        Part("alert service", lambda: _alerts(settings, config_path), alerts.service(settings).log_file,
             lambda: alerts.stop(settings), lambda: alerts.health(settings) is not None, Stage.ALERTS),
        Part("streaming job", job.await_start, paths.stream_log(),
             lambda: stream.stop(settings), lambda: stream.running(settings) is not None, Stage.STREAM),
        Part("first model training", lambda: train_first_model(settings, config_path), training.log_file,
             training.stop, lambda: _trained_or_training(settings), Stage.LATER),
    ]  # fmt: skip
    if settings.mlflow.ui_port:
        found.append(Part("MLflow UI", lambda: _mlflow(settings), ui.log_file, ui.stop,
                          lambda: mlflow_ui.healthy(settings), Stage.LATER))  # fmt: skip
    found.append(
        Part("Airflow", lambda: _airflow(airflow), paths.logs / "airflow-*.log", airflow.stop,
             lambda: (airflow.health() or {}).get("scheduler", {}).get("status") == "healthy", Stage.LATER)
    )  # fmt: skip
    return found


def ensure_model(settings: Settings) -> str:
    """A model for the stream to serve: the registry's champion; without one, the last export; without
    that, the bootstrap model shipped in models/bootstrap. Says which."""
    from fraudguard.train import bootstrap

    current = None
    if not _no_store_yet(settings):
        from fraudguard.train import registry  # MLflow and Spark: imported only when there is a store

        current = registry.champion_version(settings)
    if current is not None:
        return f"champion v{current}"
    if bootstrap.install(settings):
        return f"no champion yet: the bootstrap model ({settings.model.bootstrap_dir})"
    return f"no champion yet: the export in {settings.model.export_dir / 'champion'}"


def _no_store_yet(settings: Settings) -> bool:
    """A local SQLite store that does not exist holds no champion: say so without MLflow, whose first
    connection creates the store's tables (seconds on the way to the first alert)."""
    uri = settings.mlflow.tracking_uri
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def first_training(settings: Settings) -> Background:
    paths = RuntimePaths(settings.runtime_dir)
    return Background(
        "the first model's training",
        paths.root / "first-model.pid",
        paths.logs / "first-model.log",
        niceness=YIELDING,
    )


def train_first_model(settings: Settings, config_path: Path) -> Started:
    """Without a champion, train one in the background: the default world's data (`simulate batch`)
    and the default pipeline without its hyperparameter search (the nightly DAG searches), registered
    and promoted through the gate; the stream serves it at its next registry poll. With no fraud
    confirmed yet, the first model is an isolation forest."""
    from fraudguard.simulate.batch import write_batch
    from fraudguard.simulate.timeline import FakerWorldTimeline
    from fraudguard.train import registry

    current = registry.champion_version(settings)
    if current is not None:
        return Started(f"not needed: champion v{current}", started=False)
    dataset = RuntimePaths(settings.runtime_dir).datasets / "faker"
    if not (dataset / "manifest.json").exists():
        simulator = settings.simulator
        write_batch(FakerWorldTimeline(simulator), dataset, simulator.model_dump(mode="json"), overwrite=True)
    classifier = first_classifier(dataset, settings.model.classifier)
    environ = {**os.environ, CONFIG_PATH_VAR: str(config_path), "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
               "FRAUDGUARD__MODEL__CLASSIFIER": classifier, "COLUMNS": "120"}  # fmt: skip
    command = [sys.executable, "-m", "fraudguard", "train", "--dataset", str(dataset)]
    _, started = first_training(settings).start(command, environ, lambda: True, timeout_s=30)
    return Started(f"{classifier} on {dataset}, in the background (served once promoted)", started)


def _trained_or_training(settings: Settings) -> bool:
    """Healthy while it trains and once there is a champion; not when training ended without one."""
    from fraudguard.train import registry

    return first_training(settings).pid() is not None or registry.champion_version(settings) is not None


def first_classifier(dataset: Path, configured: Classifier) -> Classifier:
    """The configured classifier learns from the dataset's fraud labels; before any fraud is confirmed
    (no label in its manifest) only an isolation forest, which needs none, can be trained."""
    manifest = dataset / "manifest.json"
    try:
        labels = json.loads(manifest.read_text())["summary"]["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise RuntimeError(f"{manifest}: expected a dataset manifest with summary.labels ({error})") from None
    return configured if labels else "isolation_forest"


class StreamStart:
    """The streaming job launched beside the broker, so that its Spark session and model load while Kafka
    starts, and awaited once the topics and the alert service are there."""

    def __init__(self, settings: Settings, config_path: Path) -> None:
        self.settings, self.config_path = settings, config_path
        # Decided before the broker starts: a cluster formatted now has none of the offsets the
        # streams' checkpoints hold, so they start afresh.
        self.new_cluster = settings.kafka.uses_local_broker and broker.layout(settings) is None
        self.launched: Launched | None = None

    def launch(self) -> Started:
        model = ensure_model(self.settings)
        if self.new_cluster:
            for job in stream.known_jobs(self.settings):
                stream.reset(job)
        self.launched = stream.launch(self.settings, str(self.config_path))
        if self.launched is None:
            return Started(f"already running; {model}", started=False)
        return Started(f"pid {self.launched.process.pid}, serving {model}", True, verb="launched")

    def await_start(self) -> Started:
        current = stream.await_start(self.settings, self.launched)
        return Started(f"pid {current.progress.pid}, model {current.progress.model or '-'}", False, "running")


def _broker(settings: Settings) -> Started:
    report = broker.start(settings)
    return Started(f"at {report.layout.bootstrap_servers}", bool(report.started))


def _topics(settings: Settings) -> Started:
    reports = ensure_topics(settings)
    failed = [f"{r.name}: {r.detail}" for r in reports if r.action == "failed"]
    if failed:
        raise RuntimeError("could not create " + "; ".join(failed))
    created = [r.name for r in reports if r.action == "created"]
    return Started(f"created {', '.join(created)}" if created else "all present", started=False)


def _mlflow(settings: Settings) -> Started:
    _, started = mlflow_ui.start(settings)
    return Started(mlflow_ui.url(settings), started)


def _alerts(settings: Settings, config_path: Path) -> Started:
    _, started = alerts.start_detached(settings, str(config_path))
    return Started(f"dashboard {alerts.url(settings)}", started)


def _airflow(airflow: LocalAirflow) -> Started:
    started = airflow.start()
    return Started(f"{airflow.url} (user {ADMIN_USER}, password in {airflow.password_file})", started)
