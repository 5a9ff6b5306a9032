"""An alert's context from the scored history, as the streaming job lays it out (Parquet by day and
micro-batch), read without Spark: records and features as scored, the user's week before, no ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from fraudguard.alerts.context import RECENT_LIMIT, ScoredHistory
from fraudguard.alerts.store import AlertStore
from fraudguard.schemas import ALERT
from tests.samples.alerts import sample_alerts
from tests.samples.history import history_row, write_history
from tests.unit.alerts.test_access import serving

AT = datetime(2026, 12, 3, 9, 30)  # naive UTC, as Spark writes the history's timestamps


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


def test_a_busy_users_recent_transactions_are_the_newest_ones(tmp_path):
    same_day = [history_row(f"minute-{m:02d}", "u1", AT - timedelta(minutes=m)) for m in range(1, 26)]
    last_week = history_row("last-week", "u1", AT - timedelta(days=5))
    write_history(tmp_path, [history_row("alerted", "u1", AT), last_week, *same_day])
    alert = {"transaction_id": "alerted", "event_time": AT.replace(tzinfo=UTC)}
    recent = ScoredHistory(tmp_path).context(alert)["recent"]
    assert [tx["transaction_id"] for tx in recent] == [f"minute-{m:02d}" for m in range(1, RECENT_LIMIT + 1)]


def test_the_api_serves_an_alerts_context_to_readers(tmp_path):
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.db'}")
    try:
        alert = ALERT.decode(sample_alerts(1, seed=4, start=AT.replace(tzinfo=UTC))[1][0])
        store.add([alert])
        at = alert["event_time"].replace(tzinfo=None)
        write_history(tmp_path / "scored", [history_row(alert["transaction_id"], "u9", at)])
        with serving(store, history=ScoredHistory(tmp_path / "scored")) as url:
            answer = httpx.get(f"{url}/api/alerts/{alert['transaction_id']}/context").json()
            assert answer["user"]["gender"] == "F" and answer["features"]["tx_count_1h"] == 7.0
            assert httpx.get(f"{url}/api/alerts/nothing/context").status_code == 404
    finally:
        store.close()
