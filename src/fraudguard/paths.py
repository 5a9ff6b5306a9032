"""Where runtime state lives: everything under one ignored folder (settings.runtime_dir)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PRIVATE_UMASK = 0o077


def suffixed(name: str, dataset: str | None) -> str:
    """`name` for the simulated world, `name-<dataset>` for an imported dataset's own part."""
    return f"{name}-{dataset}" if dataset else name


def keep_private(root: Path) -> None:
    """What the platform writes (alert store, MLflow store, per-user state, logs, Airflow's password)
    is for this OS user only: the runtime folder is 0700, and new files 0600 and folders 0700, in this
    process and every process it starts (broker, Spark, Airflow inherit the umask)."""
    os.umask(PRIVATE_UMASK)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)


@dataclass(frozen=True)
class RuntimePaths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kafka(self) -> Path:
        """The local Kafka broker: its cluster layout and one folder per node (config, data, pid)."""
        return self.root / "kafka"

    def kafka_log(self, node_id: int) -> Path:
        return self.logs / f"kafka-{node_id}.log"

    @property
    def session_key(self) -> Path:
        """The key that signs the alert service's sign-in cookies when none is configured."""
        return self.root / "alerts" / "session.key"

    @property
    def datasets(self) -> Path:
        """Datasets by name: simulated worlds (`simulate batch`) and imported files (`data import`)."""
        return self.root / "datasets"

    @property
    def stream(self) -> Path:
        """The scoring jobs' progress files and (by default) their checkpoints, tables, batch plans."""
        return self.root / "stream"

    def stream_log(self, dataset: str | None = None) -> Path:
        """The scoring job's log (the simulated world's, or an imported dataset's job)."""
        return self.logs / f"{suffixed('stream', dataset)}.log"

    def stream_progress(self, dataset: str | None = None) -> Path:
        """Written by the job after every micro-batch and every second: state, figures, model."""
        return self.stream / f"{suffixed('progress', dataset)}.json"

    def stream_pid(self, dataset: str | None = None) -> Path:
        """The scoring job's process: pid, start time and host."""
        return self.stream / f"{suffixed('job', dataset)}.pid"
