"""What a scoring job reports about itself, written after every micro-batch and every second: its state,
its figures and the model it serves. The job writes it, and `stream status`, `fraudguard run`'s live
view, the DAGs and the benchmarks read it, through this one model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

State = Literal["starting", "running", "restarting", "stopped", "failed"]
LIVE_STATES: tuple[State, ...] = ("starting", "running", "restarting")


class ProgressError(RuntimeError):
    pass


@dataclass(frozen=True)
class BatchReport:
    batch_id: int
    transactions: int
    alerts: int
    dead_letters: int
    late_users: int
    late_merchants: int
    user_records: int
    merchant_records: int
    labels: int
    late_session_events: int
    """Browsing events that arrived after their payment was scored (not in its session features)."""
    model_version: str
    duration_s: float
    steps_s: dict[str, float]
    """Where the time went (Spark is lazy: a step includes the work its action triggered)."""


class Totals(BaseModel):
    """Counters over the job's whole life (they survive restarts with the batch reports)."""

    transactions: int = 0
    alerts: int = 0
    dead_letters: int = 0
    late_users: int = 0
    late_merchants: int = 0
    user_records: int = 0
    merchant_records: int = 0
    labels: int = 0
    late_session_events: int = 0


COUNTERS = tuple(Totals.model_fields)


class ServedModel(BaseModel):
    name: str
    version: str
    source: str  # "registry", or the local export when the registry is unreachable

    def __str__(self) -> str:
        version = f"v{self.version}" if self.version.isdigit() else self.version  # e.g. "bootstrap"
        return f"{self.name} {version} ({self.source})"


class QueryProgress(BaseModel):
    """The figures of Spark's last progress report that status lines show."""

    batch_id: int | None = None
    timestamp: str | None = None
    input_rows: int | None = None
    input_rows_per_s: float = 0.0
    processed_rows_per_s: float = 0.0
    batch_duration_ms: int | None = None
    batch_running: bool = False
    """A micro-batch is being processed now (a long one is not a stalled job)."""
    lag: dict[str, int] = {}
    """Per `topic:partition`, offsets not read yet."""

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


class StreamProgress(BaseModel):
    state: State
    pid: int
    started_at: str
    updated_at: str
    error: str | None = None
    last_batch: BatchReport | None = None
    totals: Totals = Totals()
    model: ServedModel | None = None
    query: QueryProgress | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def write(self, path: Path) -> None:
        """Whole or not at all: readers never see half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(self.model_dump_json(indent=2))
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> StreamProgress | None:
        """The last report; None when the job never ran here. A file this model cannot read (written by
        another version of the platform) is an error naming it."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            return cls.model_validate(json.loads(text))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ProgressError(f"{path}: not a scoring job's progress report ({problems})") from None
        except ValueError as error:
            raise ProgressError(f"{path}: not a scoring job's progress report ({error})") from None
