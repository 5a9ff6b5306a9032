"""Where an imported dataset's live parts are: the simulated world's, with the dataset's name appended.

Its topics (`transactions-paysim`), its registered model (`fraud-detector-paysim`) and export, and its
scoring job's state, scored history, progress and log all sit beside the world's, so that a team's data
never mixes with the simulated world's traffic, model or state.
"""

from __future__ import annotations

from pathlib import Path

from fraudguard.config import Settings, TopicRole, TopicSettings
from fraudguard.config.model import ModelSettings
from fraudguard.data.schema import SCHEMA_FILE, DatasetError
from fraudguard.paths import RuntimePaths, suffixed

WORLD = "faker"
"""The name that chooses the simulated world where a dataset is chosen by name (the DAGs' forms)."""


def dataset_folder(settings: Settings, name: str) -> Path:
    """Where `data import` wrote the dataset `name`; a clear error when it did not."""
    folder = RuntimePaths(settings.runtime_dir).datasets / name
    if not (folder / SCHEMA_FILE).exists():
        raise DatasetError(
            f"no imported dataset {name!r} at {folder}: import it with `fraudguard data import`"
        )
    return folder


def dataset_topics(settings: Settings, name: str) -> dict[TopicRole, TopicSettings]:
    """A dataset's own transactions and labels topics."""
    return {
        role: settings.topics.get(role).model_copy(
            update={"name": suffixed(settings.topics.get(role).name, name)}
        )
        for role in (TopicRole.TRANSACTIONS, TopicRole.LABELS)
    }


def dataset_model(settings: Settings, name: str) -> ModelSettings:
    """The dataset's registered model and export folder (the rest of `model` as configured)."""
    model = settings.model
    return model.model_copy(
        update={
            "registered_name": suffixed(model.registered_name, name),
            "export_dir": model.export_dir / "datasets" / name,
        }
    )


def stream_settings(settings: Settings) -> Settings:
    """The settings of the scoring job that serves `stream.dataset` (unchanged for the world): that
    dataset's topics, champion, checkpoint and scored history."""
    name = settings.stream.dataset
    if name is None:
        return settings
    stream = settings.stream.model_copy(
        update={
            "state_uri": suffixed(settings.stream.state_uri.rstrip("/"), name),
            "scored_history_dir": Path(suffixed(str(settings.stream.scored_history_dir), name)),
        }
    )
    topics = settings.topics.model_copy(
        update={role.value: topic for role, topic in dataset_topics(settings, name).items()}
    )
    return settings.model_copy(
        update={"stream": stream, "topics": topics, "model": dataset_model(settings, name)}
    )
