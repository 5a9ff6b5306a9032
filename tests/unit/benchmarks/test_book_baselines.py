"""The handbook comparison's baselines compute the book's features as its shared functions do: customer
windows that include the current transaction, terminal windows that end a 7-day label delay ago."""

from __future__ import annotations

import importlib.util
from datetime import datetime

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location(
    "book_baselines", PROJECT_ROOT / "benchmarks" / "book_baselines.py"
)
book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book)


def features_of(tmp_path, rows: list[tuple[str, str, str, datetime, float, bool]]) -> pd.DataFrame:
    columns = ["transaction_id", "user_id", "merchant_id", "timestamp", "amount", "is_fraud"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
    (tmp_path / "transactions").mkdir()
    frame.to_parquet(tmp_path / "transactions" / "part-0.parquet")
    return book.book_features(tmp_path).set_index("TRANSACTION_ID")


def test_customer_windows_include_the_transaction_and_end_after_exactly_a_day(tmp_path):
    features = features_of(tmp_path, [
        ("a", "c1", "t9", datetime(2018, 4, 1, 10), 10.0, False),  # a Sunday
        ("b", "c1", "t9", datetime(2018, 4, 1, 20), 30.0, False),
        ("c", "c1", "t9", datetime(2018, 4, 2, 11), 50.0, False),  # 25 hours after a
        ("d", "c2", "t9", datetime(2018, 4, 2, 5), 99.0, False),
    ])  # fmt: skip
    assert features.loc["b", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert features.loc["b", "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 20.0
    assert features.loc["c", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2
    assert features.loc["c", "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 40.0
    assert features.loc["c", "CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == 3
    assert features.loc["c", "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] == pytest.approx(30.0)
    assert features.loc["d", "CUSTOMER_ID_NB_TX_30DAY_WINDOW"] == 1
    assert features["TX_DURING_WEEKEND"].to_dict() == {"a": 1, "b": 1, "c": 0, "d": 0}
    assert features["TX_DURING_NIGHT"].to_dict() == {"a": 0, "b": 0, "c": 0, "d": 1}


def test_terminal_risk_counts_only_what_is_older_than_the_label_delay(tmp_path):
    features = features_of(tmp_path, [
        ("fraud", "c2", "t1", datetime(2018, 4, 1, 12), 20.0, True),
        ("recent-fraud", "c4", "t1", datetime(2018, 4, 8, 10), 20.0, True),  # inside the delay for both
        ("eight-days-on", "c3", "t1", datetime(2018, 4, 9, 11), 20.0, False),  # 7 d 23 h after the fraud
        ("just-later", "c3", "t1", datetime(2018, 4, 9, 13), 20.0, False),  # 8 d 1 h after it
    ])  # fmt: skip
    seen = features.loc["eight-days-on"]
    assert (seen["TERMINAL_ID_NB_TX_1DAY_WINDOW"], seen["TERMINAL_ID_RISK_1DAY_WINDOW"]) == (1, 1.0)
    later = features.loc["just-later"]
    assert (later["TERMINAL_ID_NB_TX_1DAY_WINDOW"], later["TERMINAL_ID_RISK_1DAY_WINDOW"]) == (0, 0.0)
    assert later["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 1 and later["TERMINAL_ID_RISK_30DAY_WINDOW"] == 1.0
    assert features.loc["fraud", "TERMINAL_ID_RISK_30DAY_WINDOW"] == 0.0, "no history: 0, as the book fills"
