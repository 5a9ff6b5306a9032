"""Where runtime state lives: everything under one ignored folder (settings.runtime_dir)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuntimePaths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def broker_state(self) -> Path:
        return self.root / "broker" / "state.json"

    @property
    def broker_log(self) -> Path:
        return self.logs / "broker.log"

    @property
    def stream(self) -> Path:
        """The streaming job's checkpoint, tables, batch plans, pid and progress files."""
        return self.root / "stream"

    @property
    def stream_log(self) -> Path:
        return self.logs / "stream.log"

    @property
    def stream_progress(self) -> Path:
        """Written by the job after every micro-batch and every second: state, pid, figures."""
        return self.stream / "progress.json"
