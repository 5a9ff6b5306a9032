"""The model the stream scores with: the registry's champion, the local export when the registry is
unreachable, swapped for a newer champion only between micro-batches and only once fully loaded."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from mlflow import MlflowClient
from pyspark.ml import PipelineModel

from fraudguard.config import Settings
from fraudguard.train import registry

log = logging.getLogger("fraudguard.stream.model")


class NoChampion(RuntimeError):
    """Neither the registry nor the export has a champion to score with."""


@dataclass(frozen=True)
class ScoringModel:
    name: str
    version: str
    threshold: float
    feature_set: str
    pipeline: PipelineModel
    importances: dict[str, float]
    population: dict[str, tuple[float, ...]]  # an isolation forest's inputs: their training quantiles
    source: str  # "registry" or "export"


class ChampionSource:
    """Hands out the model for each micro-batch; asks the registry at most every `model_poll_s`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.model.registered_name
        self._current: ScoringModel | None = None
        self._checked_at = -float("inf")
        self._lock = threading.Lock()  # the job's main loop and its micro-batches both ask

    @property
    def loaded(self) -> ScoringModel | None:
        """The model in use, without asking the registry."""
        return self._current

    def current(self) -> ScoringModel:
        """The champion; a new one is loaded completely before it replaces the old one (a micro-batch
        keeps the model it started with)."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> ScoringModel:
        now = time.monotonic()
        if self._current is None or now - self._checked_at >= self.settings.stream.model_poll_s:
            self._checked_at = now
            champion = self._registry_champion_version()
            if champion is None and self._current is None:
                self._current = self._load_export()
            elif champion is not None and (self._current is None or champion != self._current.version):
                self._swap_to(champion)
        assert self._current is not None, "loaded above or refused with an error"
        return self._current

    def _swap_to(self, champion: str) -> None:
        """Load the new champion; one that cannot be served leaves the current model in place (and
        fails the job only when there is none)."""
        previous = self._current.version if self._current else None
        try:
            self._current = self._load_registry(champion)
        except Exception as error:
            if self._current is None:
                raise
            log.error(
                "the new champion cannot be served; keeping the current model",
                extra={"wanted": champion, "using": previous, "error": str(error).splitlines()[0]},
            )
            return
        log.info("champion loaded", extra={"old_version": previous, "new_version": champion})

    def version(self, version: str) -> ScoringModel:
        """A given version (a replayed micro-batch is scored by the model that scored it first)."""
        current = self.current()
        if version == current.version:
            return current
        try:
            return self._load_registry(version)
        except Exception as error:  # the registry may be down: say so, go on
            log.warning(
                "cannot load the version a replayed batch used; scoring it with the current model",
                extra={"wanted": version, "using": current.version, "error": str(error)},
            )
            return current

    def _registry_champion_version(self) -> str | None:
        try:
            client = MlflowClient(self.settings.mlflow.tracking_uri, self.settings.mlflow.tracking_uri)
            return str(client.get_model_version_by_alias(self.name, registry.CHAMPION).version)
        except Exception as error:  # unreachable registry or no champion yet
            log.warning("no champion from the registry", extra={"error": str(error).splitlines()[0]})
            return None

    def _load_registry(self, version: str) -> ScoringModel:
        client = registry.connect(self.settings)
        model_version = client.get_model_version(self.name, version)
        feature_set = registry.run_of(client, model_version).data.params["feature_set"]
        pipeline = registry.load_version(self.settings, version)
        return ScoringModel(
            name=self.name,
            version=str(version),
            threshold=registry.threshold_of(model_version.tags, f"{self.name} v{version} (registry)"),
            feature_set=feature_set,
            pipeline=pipeline,
            importances=registry.feature_importances(pipeline),
            population=registry.anomaly_population(pipeline),
            source="registry",
        )

    def _load_export(self) -> ScoringModel:
        folder = self.settings.model.export_dir / "champion"
        if not (folder / "metadata.json").exists():
            dataset = self.settings.stream.dataset
            train_command = f"fraudguard train --dataset {dataset}" if dataset else "fraudguard train"
            raise NoChampion(
                f"no champion in the registry ({self.settings.mlflow.tracking_uri}) and no export in "
                f"{folder}; train one first: `{train_command}`"
            )
        pipeline, metadata = registry.load_export(self.settings)
        log.warning("scoring with the exported champion", extra={"version": metadata["version"]})
        return ScoringModel(
            name=metadata["name"],
            version=str(metadata["version"]),
            threshold=registry.threshold_of(metadata, f"{folder / 'metadata.json'}"),
            feature_set=metadata["feature_set"],
            pipeline=pipeline,
            importances=registry.feature_importances(pipeline),
            population=registry.anomaly_population(pipeline),
            source="export",
        )
