"""The stream's driver-side pieces: versioned tables (idempotent replays) and alert reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from fraudguard.schemas import USER
from fraudguard.stream.reasons import top_reasons
from fraudguard.stream.tables import Tables, TableStore, empty_totals, records_frame


def user(user_id: str, city: str, updated: datetime) -> dict:
    signup = datetime(2025, 1, 1, tzinfo=UTC)
    return {"user_id": user_id, "age": 40, "gender": "F", "city": city, "country": "FR", "lat": 48.8,
            "lon": 2.3, "signup_date": signup, "updated_at": updated}  # fmt: skip


def totals(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["merchant_id", "_day", "_count", "_frauds"])
    return frame.astype({"_day": "int32"})


def test_a_replayed_batch_starts_from_the_tables_its_first_attempt_saw(tmp_path):
    store = TableStore(tmp_path)
    paris = records_frame(USER, [user("u1", "Paris", datetime(2026, 1, 1, tzinfo=UTC))])
    first = Tables().with_records(paris, Tables().merchants)
    first.count(transactions=5)
    store.save(0, first)
    lyon = records_frame(USER, [user("u1", "Lyon", datetime(2026, 1, 2, tzinfo=UTC))])
    moved = first.with_records(lyon, Tables().merchants)
    moved.count(transactions=7)
    store.save(1, moved)

    again = TableStore(tmp_path).before(1)  # batch 1 replayed by a restarted job
    assert list(again.users["city"]) == ["Paris"] and again.counters == {"transactions": 5}
    assert list(TableStore(tmp_path).before(2).users["city"]) == ["Paris", "Lyon"]
    assert TableStore(tmp_path).before(0).users.empty


def test_a_repeated_record_version_is_kept_once():
    record = records_frame(USER, [user("u1", "Paris", datetime(2026, 1, 1, tzinfo=UTC))])
    tables = Tables().with_records(record, Tables().merchants).with_records(record, Tables().merchants)
    assert len(tables.users) == 1


def test_label_totals_add_up_and_old_days_are_dropped():
    tables = Tables(merchant_labels=totals([("m1", 10, 4.0, 1.0), ("m1", 50, 2.0, 0.0)]),
                    category_labels=empty_totals("merchant_category"))  # fmt: skip
    added = tables.with_labels(totals([("m1", 50, 3.0, 1.0), ("m2", 50, 1.0, 0.0)]),
                               empty_totals("merchant_category"), keep_days=36)  # fmt: skip
    merged = added.merchant_labels.set_index(["merchant_id", "_day"])
    assert merged.loc[("m1", 50)].tolist() == [5.0, 1.0]
    assert ("m1", 10) not in merged.index  # 40 days before the newest day


def test_reasons_name_unusual_values_ordered_by_the_models_reliance():
    row = {"amount": 950.0, "currency": "EUR", "amount_vs_user_median": 8.2, "tx_count_10m": 6.0,
           "device_new": 1.0, "tx_count_30d": 40.0, "device_ip": "10.0.0.9", "score": 0.93,
           "is_night": 0.0, "user_known": True, "merchant_known": True}  # fmt: skip
    importances = {"tx_count_10m": 0.5, "amount_vs_user_median": 0.3, "device_new": 0.1}
    reasons = top_reasons(row, importances)
    assert reasons[0] == "6 payments by this user in the last 10 minutes"
    assert reasons[1].startswith("amount 950.00 EUR is 8.2x")
    assert "never used before (10.0.0.9)" in reasons[2]
    assert top_reasons(row, {"tx_count_10m": 0.5}) == ["6 payments by this user in the last 10 minutes"]


def test_a_missing_record_comes_first_and_a_plain_alert_still_has_a_reason():
    row = {"score": 0.71, "user_known": False, "merchant_known": True, "amount": 20.0, "is_night": 0.0}
    assert top_reasons(row, {"amount": 0.2}) == ["the user's record had not arrived yet (scored without it)"]
    plain = {"score": 0.71, "user_known": True, "merchant_known": True, "amount": 20.0}
    assert top_reasons(plain, {"amount": 0.2}) == [
        "score 0.71: the combination of features, no single one stands out"
    ]
