"""What a reviewer sees behind an alert, read from the streaming job's scored history (Parquet by day and
micro-batch, `stream.scored_history_dir`) with pyarrow, without Spark: the user's and merchant's records
in force when it was scored, the feature values the model saw, and the user's recent transactions."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds

from fraudguard.features.records import MERCHANT_COLUMNS, USER_COLUMNS
from fraudguard.features.user_history import STORE_HOURS, STORE_IDS

RECENT_DAYS = 7
RECENT_LIMIT = 20
LOOKUP_SLACK = timedelta(seconds=1)  # the alert's event time has milliseconds, the history microseconds
RECENT_COLUMNS = ("transaction_id", "timestamp", "amount", "currency", "channel", "merchant_id",
                  "merchant_category", "merchant_country", "score", "alerted")  # fmt: skip
NOT_SHOWN = frozenset(
    {"is_fraud", "fraud_scenario",  # the simulator's ground truth: never in front of a reviewer
     "kafka_ts", "topic", "partition", "offset", "day", "batch", "user_known", "merchant_known",
     "score", "threshold", "alerted", "model_version", "scored_at", *STORE_IDS, *STORE_HOURS[1:]}
)  # fmt: skip
"""Columns of the history that are neither the transaction, its records, nor a model input."""
TRANSACTION_COLUMNS = ("transaction_id", "user_id", "merchant_id", "timestamp", "amount", "currency",
                       "channel", "device_ip")  # fmt: skip


class ScoredHistory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def context(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The alert's transaction as scored (records and features) and the user's transactions over
        the `RECENT_DAYS` before it, newest first; empty parts when the history does not have them
        (another store, an imported dataset without users, a history pruned since)."""
        when: datetime = alert.get("event_time") or alert["scored_at"]
        empty: dict[str, Any] = {
            "transaction": None,
            "user": None,
            "merchant": None,
            "features": None,
            "recent": [],
        }
        dataset = self._days([when.date() + timedelta(days=step) for step in (-1, 0, 1)])
        if dataset is None:
            return empty
        match = pc.field("transaction_id") == alert["transaction_id"]
        if alert.get("event_time") and "timestamp" in dataset.schema.names:
            # the history's event times are naive UTC; a window lets Parquet statistics skip other batches
            at = alert["event_time"].astimezone(UTC).replace(tzinfo=None)
            match &= (pc.field("timestamp") >= at - LOOKUP_SLACK) & (
                pc.field("timestamp") <= at + LOOKUP_SLACK
            )
        rows = dataset.to_table(filter=match).to_pylist()
        if not rows:
            return empty
        row = rows[-1]  # a replayed micro-batch rewrote the same row
        records = {*USER_COLUMNS.values(), *MERCHANT_COLUMNS.values()}
        return {
            "transaction": {name: row.get(name) for name in TRANSACTION_COLUMNS},
            "user": {field: row.get(column) for field, column in USER_COLUMNS.items()},
            "merchant": {field: row.get(column) for field, column in MERCHANT_COLUMNS.items()},
            "features": {
                name: _number(value)
                for name, value in row.items()
                if name not in NOT_SHOWN and name not in records and name not in TRANSACTION_COLUMNS
            },
            "recent": self._recent(row),
        }

    def _recent(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Day by day from the newest, so that a busy user's read stops after a day or two."""
        if not row.get("user_id") or row.get("timestamp") is None:
            return []
        at: datetime = row["timestamp"]
        earlier = (
            (pc.field("user_id") == row["user_id"])
            & (pc.field("timestamp") < at)
            & (pc.field("timestamp") >= at - timedelta(days=RECENT_DAYS))
        )
        found: dict[str, dict[str, Any]] = {}
        for step in range(RECENT_DAYS + 1):
            dataset = self._days([at.date() - timedelta(days=step)])
            if dataset is None:
                continue
            columns = [name for name in RECENT_COLUMNS if name in dataset.schema.names]
            for record in dataset.to_table(columns=columns, filter=earlier).to_pylist():
                found[record["transaction_id"]] = record  # a replayed micro-batch rewrote the same row
            if len(found) >= RECENT_LIMIT:
                break
        return sorted(found.values(), key=lambda r: r["timestamp"], reverse=True)[:RECENT_LIMIT]

    def _days(self, days: list[date]) -> ds.Dataset | None:
        """The history's partitions of those days (only those: a request reads a few files)."""
        folders = [self.folder / f"day={day:%Y-%m-%d}" for day in sorted(set(days))]
        files = [
            str(path) for folder in folders if folder.is_dir() for path in sorted(folder.rglob("*.parquet"))
        ]
        return ds.dataset(files, format="parquet") if files else None


def _number(value: Any) -> Any:
    """JSON has no NaN: a missing feature value is null."""
    return None if isinstance(value, float) and math.isnan(value) else value
