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
