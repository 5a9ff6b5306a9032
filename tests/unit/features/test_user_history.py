"""Per-user features: equal to a brute-force reference, and the same however the rows are batched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudguard.features.user_history import (
    DEVICE_AGE_CAP_MIN,
    NO_PREVIOUS_S,
    RECENT_STORES,
    STORE_HOURS,
    STORE_IDS,
    WINDOWS,
    UserState,
    update,
    value_names,
)


def user_rows(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0.0, 30.0, 400.0, 5_000.0, 90_000.0, 400_000.0], size=n)  # ties and long gaps
    return pd.DataFrame(
        {
            "ts": 1.7e9 + np.cumsum(gaps),
            "amount": np.round(rng.lognormal(3, 1, n), 2),
            "device_ip": rng.choice(
                ["10.0.0.1", "10.0.0.2", "81.2.69.160", "8.8.4.4"], size=n, p=[0.6, 0.3, 0.05, 0.05]
            ),
            "in_store": rng.random(n) < 0.7,
            "merchant_id": rng.choice(["m1", "m2", "m3", "m4"], size=n),
        }
    )


def reference(rows: pd.DataFrame, windows: dict[str, int] = WINDOWS) -> pd.DataFrame:
    """The definition, one row at a time over all earlier rows: slow and obviously right."""
    records = []
    for i in range(len(rows)):
        now, past = rows.iloc[i], rows.iloc[: i + 1]
        record = {}
        for name, seconds in windows.items():
            window = past[past["ts"] > now["ts"] - seconds]
            record[f"tx_count_{name}"] = len(window)
            record[f"amount_sum_{name}"] = window["amount"].sum()
            record[f"amount_avg_{name}"] = window["amount"].mean()
        record["amount_vs_user_avg"] = now["amount"] / rows["amount"][:i].mean() if i else 1.0
        earlier = rows.iloc[:i][rows["ts"].iloc[:i] > now["ts"] - max(windows.values())]
        record["amount_vs_user_median"] = (
            now["amount"] / max(earlier["amount"].median(), 0.01) if len(earlier) else 1.0
        )
        same_device = past[past["device_ip"] == now["device_ip"]]
        record["device_new"] = float(len(same_device) == 1)
        record["device_age_min"] = min((now["ts"] - same_device["ts"].min()) / 60, DEVICE_AGE_CAP_MIN)
        record["seconds_since_previous"] = now["ts"] - rows["ts"].iloc[i - 1] if i else NO_PREVIOUS_S
        stores = rows.iloc[:i][rows["in_store"].iloc[:i]]
        for back, (hours_name, id_name) in enumerate(zip(STORE_HOURS, STORE_IDS, strict=True), start=1):
            store = stores.iloc[-back] if len(stores) >= back else None
            record[hours_name] = (
                (now["ts"] - store["ts"]) / 3600 if store is not None else NO_PREVIOUS_S / 3600
            )
            record[id_name] = store["merchant_id"] if store is not None else None
        records.append(record)
    frame = pd.DataFrame(records)
    return frame[value_names(windows)].astype(float).assign(**{name: frame[name] for name in STORE_IDS})


@pytest.mark.parametrize("seed", [1, 2])
def test_features_equal_the_brute_force_definition(seed):
    rows = user_rows(seed)
    features, _ = update(UserState(), rows)
    pd.testing.assert_frame_equal(
        features.reset_index(drop=True), reference(rows), check_exact=False, rtol=1e-9
    )


def test_other_windows_follow_the_same_definition():
    book = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
    rows = user_rows(8, n=200)
    features, state = update(UserState(), rows, windows=book)
    pd.testing.assert_frame_equal(
        features.reset_index(drop=True), reference(rows, book), check_exact=False, rtol=1e-9
    )
    assert state.history_ts.min() > rows["ts"].iloc[-1] - book["30d"]


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_any_split_into_batches_gives_the_same_features(seed):
    rows = user_rows(seed)
    whole, _ = update(UserState(), rows)
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(rows)), size=25, replace=False))
    state, parts = UserState(), []
    for low, high in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        part = rows.iloc[low:high]
        features, state = update(state, part)
        parts.append(features)
    pd.testing.assert_frame_equal(pd.concat(parts), whole, check_exact=False, rtol=1e-12, atol=1e-9)


def test_later_transactions_never_change_earlier_features():
    rows = user_rows(6)
    early, _ = update(UserState(), rows.iloc[:150])
    whole, _ = update(UserState(), rows)
    pd.testing.assert_frame_equal(whole.iloc[:150], early)


def test_state_stays_bounded():
    rows = user_rows(7, n=2000)
    _, state = update(UserState(), rows)
    assert state.count == 2000
    assert state.history_ts.min() > rows["ts"].iloc[-1] - max(WINDOWS.values())
    assert len(state.history_ts) < 2000 and len(state.devices) <= 4
    assert len(state.store_ts) == len(state.store_merchant_ids) == RECENT_STORES


def test_the_state_store_row_round_trips_a_state():
    from fraudguard.stream.user_state import from_row, to_row

    rows = pd.DataFrame(
        {"ts": [10.0, 20.0, 4000.0], "amount": [5.0, 7.5, 100.0], "device_ip": ["a", "b", "a"],
         "in_store": [True, False, False], "merchant_id": ["m1", "m2", "m3"]}
    )  # fmt: skip
    _, state = update(UserState(), rows)
    decoded = from_row(to_row(state))
    assert (
        np.array_equal(decoded.history_ts, state.history_ts)
        and np.array_equal(decoded.history_amount, state.history_amount)
        and np.array_equal(decoded.store_ts, state.store_ts)
        and list(decoded.store_merchant_ids) == list(state.store_merchant_ids) == ["m1"]
        and (decoded.count, decoded.amount_total, decoded.last_ts, decoded.devices)
        == (state.count, state.amount_total, state.last_ts, state.devices)
    )
    following = pd.DataFrame({"ts": [5000.0], "amount": [1.0], "device_ip": ["c"], "in_store": [True],
                              "merchant_id": ["m4"]})  # fmt: skip
    pd.testing.assert_frame_equal(update(decoded, following)[0], update(state, following)[0])
