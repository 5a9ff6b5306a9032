"""The state file through which the development broker publishes its address to other processes.

It also holds the control channel's address and key, so it is written readable by the owner only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class BrokerState:
    pid: int
    process_started: float
    bootstrap_servers: str
    brokers: int
    control_host: str
    control_port: int
    control_key: str
    started_at: str

    def write(self, path: Path) -> None:
        """Atomically (write, then rename) so a reader never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle, indent=2)
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> BrokerState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def is_alive(self) -> bool:
        """True when the recorded process still runs (and is the same process, not a reused pid)."""
        try:
            process = psutil.Process(self.pid)
            return (
                process.status() != psutil.STATUS_ZOMBIE
                and abs(process.create_time() - self.process_started) < 1.0
            )
        except psutil.Error:
            return False


def running_broker(path: Path) -> BrokerState | None:
    """The live broker's state, or None; a file left by a dead broker is removed."""
    state = BrokerState.read(path)
    if state is None:
        return None
    if state.is_alive():
        return state
    path.unlink(missing_ok=True)
    return None
