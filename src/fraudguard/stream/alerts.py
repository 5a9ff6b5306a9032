"""Alert messages built on the executors from scored rows: what a Python worker imports for them is
kept light (no model registry, no Spark ML), since every worker that builds alerts imports this."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from fraudguard.schemas import ALERT
from fraudguard.stream.messages import kafka_frames
from fraudguard.stream.reasons import anomaly_reasons, top_reasons, unusual_inputs

ALERT_NAMESPACE = uuid.UUID("6f1c9a52-8f0e-4b8e-9d52-3f7c1d0a9e11")


@dataclass(frozen=True)
class AlertMaker:
    """Builds the alert messages on the executors (what it needs of the model travels with it)."""

    name: str
    version: str
    threshold: float
    importances: dict[str, float]
    population: dict[str, tuple[float, ...]]  # an isolation forest champion's: its reasons use them
    scored_at: datetime

    def __call__(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return kafka_frames(ALERT, frames, self.alert)

    def alert(self, row: dict) -> dict:
        return {
            **self._scoring(row),
            "user_id": row["user_id"],
            "merchant_id": row["merchant_id"],
            "amount": float(row["amount"]),
            "currency": row["currency"],
            "event_time": row["timestamp"],
            "reasons": (
                anomaly_reasons(row, self.population)
                if self.population
                else top_reasons(row, self.importances)
            ),
            "merchant_category": row.get("merchant_category"),
            "country": row.get("merchant_country"),
            "lat": _optional(row.get("merchant_lat")),
            "lon": _optional(row.get("merchant_lon")),
        }

    def _scoring(self, row: dict) -> dict:
        """What every alert says: which transaction, its score and the model's decision."""
        return {
            "alert_id": str(uuid.uuid5(ALERT_NAMESPACE, f"{row['transaction_id']}/{self.version}")),
            "transaction_id": row["transaction_id"],
            "score": float(row["score"]),
            "threshold": self.threshold,
            "model_name": self.name,
            "model_version": self.version,
            "scored_at": self.scored_at,
        }


@dataclass(frozen=True)
class DatasetAlertMaker(AlertMaker):
    """An imported dataset's alerts: what the dataset has no column for stays empty; the reasons are
    its inputs far from their usual values (no rule knows its columns)."""

    amount: str | None  # the numeric column that is the payment's amount, if any
    usual: dict[str, tuple[float, float]]  # each numeric input's mean and standard deviation

    def alert(self, row: dict) -> dict:
        return {
            **self._scoring(row),
            **dict.fromkeys(("currency", "merchant_category", "country", "lat", "lon")),
            "user_id": row.get("user_id"),
            "merchant_id": row.get("merchant_id"),
            "amount": _optional(row.get(self.amount)) if self.amount else None,
            "event_time": row.get("timestamp"),
            "reasons": (
                anomaly_reasons(row, self.population, rules=())
                if self.population
                else unusual_inputs(row, self.usual, self.importances)
            ),
        }


def _optional(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
