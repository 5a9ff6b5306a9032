"""An alert's context from the scored history, as the streaming job lays it out (Parquet by day and
micro-batch), read without Spark: records and features as scored, the user's week before, no ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from fraudguard.alerts.context import ScoredHistory
from fraudguard.alerts.store import AlertStore
from fraudguard.schemas import ALERT
from tests.samples.alerts import sample_alerts
from tests.unit.alerts.test_access import serving

AT = datetime(2026, 12, 3, 9, 30)  # naive UTC, as Spark writes the history's timestamps


def history_row(transaction_id: str, user_id: str, at: datetime, **values: object) -> dict:
    return {"transaction_id": transaction_id, "user_id": user_id, "merchant_id": "m1", "timestamp": at,
            "amount": 42.0, "currency": "EUR", "channel": "online", "device_ip": "10.0.0.1",
            "is_fraud": True, "fraud_scenario": "card_testing", "user_age": 31.0, "user_gender": "F",
            "user_lat": 48.1, "user_lon": 11.6, "user_signup_date": at - timedelta(days=400),
            "merchant_category": "electronics", "merchant_country": "DE", "merchant_lat": 48.2,
            "merchant_lon": 11.5, "merchant_created_at": at - timedelta(days=900), "tx_count_1h": 7.0,
            "amount_vs_user_avg": float("nan"), "score": 0.2, "threshold": 0.5, "alerted": False,
            "model_version": "3", "scored_at": at + timedelta(seconds=5), **values}  # fmt: skip


def write_history(folder, rows: list[dict]) -> None:
    """One file per (day, micro-batch), as `MicroBatchScorer._write_history` partitions it."""
    for number, row in enumerate(rows):
        part = folder / f"day={row['timestamp']:%Y-%m-%d}" / f"batch=run-{number:06d}"
        part.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([row]), part / "part-0.parquet")


def test_the_context_shows_records_features_and_the_users_week_without_ground_truth(tmp_path):
    rows = [
        history_row("alerted", "u1", AT, score=0.9, alerted=True),
        history_row("an-hour-before", "u1", AT - timedelta(hours=1)),
        history_row("six-days-before", "u1", AT - timedelta(days=6), amount=7.5),
        history_row("eight-days-before", "u1", AT - timedelta(days=8)),
        history_row("later", "u1", AT + timedelta(hours=1)),
        history_row("another-user", "u2", AT - timedelta(minutes=5)),
    ]
    write_history(tmp_path, rows)
    alert = {
        "transaction_id": "alerted",
        "event_time": AT.replace(tzinfo=UTC),
        "scored_at": AT.replace(tzinfo=UTC),
    }
    context = ScoredHistory(tmp_path).context(alert)
    assert context["transaction"]["amount"] == 42.0 and context["transaction"]["user_id"] == "u1"
    assert context["user"]["age"] == 31.0 and context["merchant"]["category"] == "electronics"
    assert context["features"] == {"tx_count_1h": 7.0, "amount_vs_user_avg": None}, (
        "model inputs only, NaN as null"
    )
    assert "is_fraud" not in str(context) and "card_testing" not in str(context)
    assert [tx["transaction_id"] for tx in context["recent"]] == ["an-hour-before", "six-days-before"]
    assert context["recent"][1]["amount"] == 7.5
    assert ScoredHistory(tmp_path / "none").context(alert)["transaction"] is None
    assert ScoredHistory(tmp_path).context({**alert, "transaction_id": "unknown"})["recent"] == []


def test_the_api_serves_an_alerts_context_to_readers(tmp_path):
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.db'}")
    try:
        alert = ALERT.decode(sample_alerts(1, seed=4, start=AT.replace(tzinfo=UTC))[1][0])
        store.add([alert])
        write_history(tmp_path / "scored", [history_row(alert["transaction_id"], "u9", AT)])
        with serving(store, history=ScoredHistory(tmp_path / "scored")) as url:
            answer = httpx.get(f"{url}/api/alerts/{alert['transaction_id']}/context").json()
            assert answer["user"]["gender"] == "F" and answer["features"]["tx_count_1h"] == 7.0
            assert httpx.get(f"{url}/api/alerts/nothing/context").status_code == 404
    finally:
        store.close()
