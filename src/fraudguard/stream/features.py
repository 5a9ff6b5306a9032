"""A micro-batch's features on the driver, with pandas: the batch definitions (`features.batch`) applied
to the stream's tables and per-user state.

    transactions ─ per-user state (`user_history.advance`) ─ as-of user/merchant join
       ─ label-delayed risk rates (`batch.label_window`) ─ row and travel features (`features.row`)

Each step keeps `features.batch`'s rule: the record version in force at the transaction's time (latest
`updated_at` not after it; none: NaN, a late dimension), and rates over the labels of the days
`label_window` gives. The parity of the whole with batch training is tested end to end (the stream's
scores equal the batch scores of the same data within 1e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudguard.features.batch import (
    LONGEST_RISK_DAYS,
    MERCHANT_COLUMNS,
    MERCHANT_RISK_DAYS,
    PREVIOUS_STORE_COLUMNS,
    USER_COLUMNS,
    label_window,
)
from fraudguard.features.row import SECONDS_PER_DAY, epoch_seconds, row_features, travel_features
from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, UserState, advance, feature_names
from fraudguard.stream.tables import Tables
from fraudguard.stream.user_store import UserStateStore


def micro_batch_features(
    transactions: pd.DataFrame, tables: Tables, store: UserStateStore, batch_id: int, delay_days: int
) -> tuple[pd.DataFrame, Tables]:
    """Every feature of a micro-batch's transactions, plus `user_known` and
    `merchant_known`, and the tables with the micro-batch's labels added. `tables` holds the user and
    merchant records up to this micro-batch; the new per-user states are saved in `store`."""
    rows = with_user_history(
        transactions.assign(ts=epoch_seconds(transactions["timestamp"])), store, batch_id
    )
    rows = with_entities(rows, tables.users, tables.merchants)
    rows = rows.assign(user_known=rows["user_age"].notna(), merchant_known=rows["merchant_category"].notna())
    tables = tables.with_labels(
        daily_label_totals(rows, "merchant_id"),
        daily_label_totals(rows, "merchant_category"),
        keep_days=delay_days + LONGEST_RISK_DAYS + 1,
    )
    rows = with_risk(rows, tables.merchant_labels, tables.category_labels, delay_days)
    return with_row_and_travel(rows, tables.merchants), tables


def with_user_history(transactions: pd.DataFrame, store: UserStateStore, batch_id: int) -> pd.DataFrame:
    """Transactions (with `ts`, epoch seconds) sorted by user, time and id, with the per-user
    features; saves the new states."""
    rows = transactions.sort_values(["user_id", "ts", "transaction_id"], kind="stable", ignore_index=True)
    names = feature_names(WINDOWS)
    users = rows["user_id"].to_numpy(dtype=object)
    ts, amount = rows["ts"].to_numpy(dtype=float), rows["amount"].to_numpy(dtype=float)
    devices = rows["device_ip"].to_numpy(dtype=object)
    merchants = rows["merchant_id"].to_numpy(dtype=object)
    in_store = (rows["channel"] == "in_store").to_numpy(dtype=bool)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(rows) else np.zeros(0, dtype=int)
    ends = np.append(starts[1:], len(rows)) if len(rows) else starts
    saved = store.load(users[starts])
    features = {name: np.empty(len(rows)) for name in names}
    previous_store = np.empty(len(rows), dtype=object)
    states: dict[str, UserState] = {}
    for low, high in zip(starts, ends, strict=True):
        user = users[low]
        values, previous_store[low:high], states[user] = advance(
            saved.get(user, UserState()), ts[low:high], amount[low:high], devices[low:high],
            in_store[low:high], merchants[low:high],
        )  # fmt: skip
        for name in names:
            features[name][low:high] = values[name]
    store.save(batch_id, states)
    return rows.assign(**features, **{PREVIOUS_STORE: previous_store})


def as_of(
    rows: pd.DataFrame, versions: pd.DataFrame, key: str, columns: dict[str, str], via: str
) -> pd.DataFrame:
    """`rows` with `columns` of the version of their record (`versions[key] == rows[via]`) in force at
    their `ts`: the latest `updated_at` not after it."""
    right = versions.assign(_at=epoch_seconds(versions["updated_at"]))[[key, "_at", *columns]]
    right = right.rename(columns={key: via, **columns}).dropna(subset=[via]).astype({via: object})
    left = rows.assign(_row=np.arange(len(rows)))
    known = left[via].notna()
    left = left.astype({via: object})  # the keys' types must match (text vs Arrow-backed text)
    joined = pd.merge_asof(
        left[known].sort_values("ts", kind="stable"), right.sort_values("_at", kind="stable"),
        left_on="ts", right_on="_at", by=via, direction="backward",
    )  # fmt: skip
    return (
        pd.concat([joined, left[~known]])
        .sort_values("_row")
        .drop(columns=["_row", "_at"])
        .reset_index(drop=True)
    )


def with_entities(transactions: pd.DataFrame, users: pd.DataFrame, merchants: pd.DataFrame) -> pd.DataFrame:
    joined = as_of(transactions, users, "user_id", USER_COLUMNS, via="user_id")
    return as_of(joined, merchants, "merchant_id", MERCHANT_COLUMNS, via="merchant_id")


def day_numbers(rows: pd.DataFrame) -> np.ndarray:
    """`features.batch.day_number`: days since the epoch (UTC) of the event time."""
    return np.floor(rows["ts"].to_numpy(dtype=float) / SECONDS_PER_DAY).astype(np.int64)


def daily_label_totals(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """`features.batch.daily_label_totals` of a micro-batch: per (`key`, day) transactions and frauds."""
    frame = pd.DataFrame(
        {key: rows[key], "_day": day_numbers(rows).astype("int32"), "_frauds": rows["is_fraud"].astype(float)}
    )
    return (
        frame.groupby([key, "_day"], dropna=False, as_index=False)
        .agg(_count=("_frauds", "size"), _frauds=("_frauds", "sum"))
        .astype({"_count": float})
    )


def delayed_rates(rows: pd.DataFrame, totals: pd.DataFrame, key: str, delay_days: int, lookback_days: int):
    """Per row: the fraud rate and labelled count of its `key` over the days `label_window` gives
    (NaN where the key is missing, as Spark's join on a null key)."""
    low, high = label_window(delay_days, lookback_days)
    asked = pd.DataFrame({key: rows[key].to_numpy(dtype=object), "_day": day_numbers(rows)})
    pairs = asked.dropna().drop_duplicates()
    spans = pairs.merge(totals[totals[key].notna()], on=key, suffixes=("", "_label"))
    spans = spans[
        (spans["_day_label"] >= spans["_day"] + low) & (spans["_day_label"] <= spans["_day"] + high)
    ]
    sums = spans.groupby([key, "_day"], as_index=False)[["_count", "_frauds"]].sum()
    spans = pairs.merge(sums, on=[key, "_day"], how="left").fillna({"_count": 0.0, "_frauds": 0.0})
    found = asked.merge(spans, on=[key, "_day"], how="left")
    count = found["_count"].to_numpy(dtype=float, na_value=np.nan)
    frauds = found["_frauds"].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, frauds / count, np.where(np.isnan(count), np.nan, 0.0))
    return rate, count


def with_risk(
    rows: pd.DataFrame, merchant_totals: pd.DataFrame, category_totals: pd.DataFrame, delay_days: int
):
    """`features.batch.with_risk` on the stream's label totals (which include this micro-batch's)."""
    risk = {}
    for days in MERCHANT_RISK_DAYS:
        rate, count = delayed_rates(rows, merchant_totals, "merchant_id", delay_days, days)
        risk[f"merchant_fraud_rate_{days}d"] = rate
        if days == LONGEST_RISK_DAYS:
            risk[f"merchant_labelled_count_{days}d"] = count
    rate, _ = delayed_rates(rows, category_totals, "merchant_category", delay_days, LONGEST_RISK_DAYS)
    risk[f"category_fraud_rate_{LONGEST_RISK_DAYS}d"] = rate
    return rows.assign(**risk)


def with_row_and_travel(rows: pd.DataFrame, merchants: pd.DataFrame) -> pd.DataFrame:
    """Row features, then the travel features via the location of the previous in-store merchant."""
    located = as_of(rows, merchants, "merchant_id", PREVIOUS_STORE_COLUMNS, via=PREVIOUS_STORE)
    located = located.assign(**row_features(located))
    return located.assign(**travel_features(located))
