"""Rows of the streaming job's scored history, written as the job lays them out, for the alert
service's context without running the stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def history_row(transaction_id: str, user_id: str, at: datetime, **values: object) -> dict:
    return {"transaction_id": transaction_id, "user_id": user_id, "merchant_id": "m1", "timestamp": at,
            "amount": 42.0, "currency": "EUR", "channel": "online", "device_ip": "10.0.0.1",
            "is_fraud": True, "fraud_scenario": "card_testing", "user_age": 31.0, "user_gender": "F",
            "user_lat": 48.1, "user_lon": 11.6, "user_signup_date": at - timedelta(days=400),
            "merchant_category": "electronics", "merchant_country": "DE", "merchant_lat": 48.2,
            "merchant_lon": 11.5, "merchant_created_at": at - timedelta(days=900), "tx_count_1h": 7.0,
            "amount_vs_user_avg": float("nan"), "score": 0.2, "threshold": 0.5, "alerted": False,
            "model_version": "3", "scored_at": at + timedelta(seconds=5), **values}  # fmt: skip


def write_history(folder: Path, rows: list[dict]) -> None:
    """One file per (day, micro-batch), as `MicroBatchScorer._write_history` partitions it."""
    for number, row in enumerate(rows):
        part = folder / f"day={row['timestamp']:%Y-%m-%d}" / f"batch=run-{number:06d}"
        part.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([row]), part / "part-0.parquet")
