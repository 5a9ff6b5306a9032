"""The bootstrap model, shipped in `models/bootstrap`: what the stream serves on a fresh clone until the
first model trained on this installation's data is promoted, so that the first alert does not wait for
a training run. It is the default pipeline trained on a seeded simulated world; `provenance.json` says
which, with its test metrics, and `fraudguard model bootstrap` makes it again."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from fraudguard.config import Settings
from fraudguard.folders import replacing

BOOTSTRAP_VERSION = "bootstrap"
BOOTSTRAP_WORLD = {"seed": 7, "days": 30, "users": 2000, "merchants": 400}
"""Small enough to train in about a minute, large enough for every scenario to reach the test days."""


def install(settings: Settings) -> bool:
    """Serve the bootstrap model when there is no export to fall back on: the export folder gets a copy,
    which the first promotion replaces. Returns whether it was installed."""
    source, target = settings.model.bootstrap_dir, settings.model.export_dir / "champion"
    if (target / "metadata.json").exists():
        return False
    if not (source / "metadata.json").exists():
        raise FileNotFoundError(f"no bootstrap model in {source}; make it with `fraudguard model bootstrap`")
    with replacing(target) as staging:
        shutil.copytree(source, staging, dirs_exist_ok=True)
    return True


def build(settings: Settings, on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Train the default pipeline on the bootstrap world in a scratch registry and write it, with its
    provenance, to `models/bootstrap`. Returns the provenance."""
    from fraudguard.simulate.batch import write_batch
    from fraudguard.simulate.timeline import FakerWorldTimeline
    from fraudguard.spark import spark_session
    from fraudguard.train.job import Dataset, run_training

    with tempfile.TemporaryDirectory(prefix="fraudguard-bootstrap-") as scratch:
        root = Path(scratch)
        simulator = settings.simulator.model_copy(update=BOOTSTRAP_WORLD)
        scratch_settings = settings.model_copy(
            update={
                "runtime_dir": root,
                "simulator": simulator,
                "mlflow": settings.mlflow.model_copy(
                    update={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"}
                ),
                "model": settings.model.model_copy(
                    update={"export_dir": root / "models", "search_budget_s": 0}
                ),
            }
        )
        on_step("simulating the bootstrap world")
        write_batch(FakerWorldTimeline(simulator), root / "world", simulator.model_dump(mode="json"))
        spark = spark_session(scratch_settings, "fraudguard-bootstrap")
        outcome = run_training(spark, scratch_settings, Dataset(root / "world"), on_step=on_step)
        exported = (root / "models" / "champion").resolve()
        metadata = json.loads((exported / "metadata.json").read_text())
        provenance = {
            "made_by": "fraudguard model bootstrap",
            "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fraudguard": package_version("fraudguard"),
            "pyspark": package_version("pyspark"),
            "world": {"simulator": "faker", **BOOTSTRAP_WORLD},
            "classifier": settings.model.classifier,
            "feature_set": metadata["feature_set"],
            "split": outcome.result.split.describe(),
            "test_metrics": {k: round(v, 4) for k, v in outcome.result.test_metrics.items()},
        }
        target = settings.model.bootstrap_dir
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(exported, target)
    metadata.update({"version": BOOTSTRAP_VERSION, "run_id": None})
    (target / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    (target / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance
