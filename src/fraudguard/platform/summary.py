"""What a run achieved, against the simulator's ground truth that travels with each transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from fraudguard.config import Settings


def detection_quality(settings: Settings, since: datetime) -> dict[str, Any]:
    """Precision and recall of the alerts on the transactions published since `since` (their Kafka
    timestamp), from the scored history: every scored transaction with its label and alert flag."""
    folder = settings.stream.scored_history_dir
    if not folder.exists():
        return {"scored": 0, "alerts": 0, "frauds": 0, "true_alerts": 0, "precision": None, "recall": None}
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table(
        columns=["kafka_ts", "is_fraud", "alerted"]
    )
    utc = pa.timestamp("us", "UTC")  # the history's timestamps are UTC without a zone
    table = table.filter(
        pc.greater_equal(pc.cast(table["kafka_ts"], utc), pa.scalar(since.astimezone(UTC), utc))
    )
    fraud, alerted = table["is_fraud"], table["alerted"]
    frauds = pc.sum(fraud).as_py() or 0
    alerts = pc.sum(alerted).as_py() or 0
    hits = pc.sum(pc.and_(fraud, alerted)).as_py() or 0
    return {
        "scored": table.num_rows,
        "alerts": alerts,
        "frauds": frauds,
        "true_alerts": hits,
        "precision": round(hits / alerts, 4) if alerts else None,
        "recall": round(hits / frauds, 4) if frauds else None,
    }
