"""Is fraud learnable only by doing the platform's work? Average precision (AUC-PR) of single raw
transaction fields versus each scenario's documented signal (which needs joins and user history).

    .venv/bin/python benchmarks/simulator_signals.py [--days 30]    -> JSON, then a markdown table

AUC-PR is reported for all fraud (base rate ~1%) and for the signal's own scenario against legitimate
transactions. Raw categorical fields are scored by their own fraud rate on the same data (optimistic).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score

from fraudguard.config import load_settings
from fraudguard.geo import haversine_km
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline

LABEL_DELAY = pd.Timedelta(days=7)
WARM_UP_DAYS = 7
TEST_FROM_DAY = 20


def load(days: int, folder: Path) -> pd.DataFrame:
    settings = load_settings().simulator.model_copy(update={"days": days})
    write_batch(FakerWorldTimeline(settings), folder, settings_json={})
    tx = ds.dataset(folder / "transactions", partitioning="hive").to_table().to_pandas().drop(columns="day")
    users = ds.dataset(folder / "users.parquet").to_table().to_pandas()
    merchants = ds.dataset(folder / "merchants.parquet").to_table().to_pandas()
    tx = tx.sort_values("timestamp", kind="stable").reset_index(drop=True)
    # Point-in-time joins: the user and merchant records in force at the transaction's time.
    tx = pd.merge_asof(
        tx,
        users.sort_values("updated_at").rename(columns={"lat": "home_lat", "lon": "home_lon"}),
        left_on="timestamp",
        right_on="updated_at",
        by="user_id",
    )
    merchants = merchants.sort_values("updated_at").rename(columns={"lat": "m_lat", "lon": "m_lon"})
    tx = pd.merge_asof(
        tx,
        merchants[["merchant_id", "m_lat", "m_lon", "created_at", "category", "updated_at"]],
        left_on="timestamp",
        right_on="updated_at",
        by="merchant_id",
        suffixes=("", "_m"),
    )
    return tx


def signals(tx: pd.DataFrame) -> pd.DataFrame:
    """The scenarios' documented signals, each needing a join or the user's history."""
    tx = tx.sort_values(["user_id", "timestamp"], kind="stable")
    ts = tx["timestamp"].astype("datetime64[ms, UTC]").astype("int64") / 1000.0
    out = pd.DataFrame(index=tx.index)
    first_seen = ts.groupby([tx["user_id"], tx["device_ip"]]).transform("min")
    out["device_age_minutes"] = -((ts - first_seen) / 60).clip(upper=7 * 24 * 60)
    past_mean = tx.groupby("user_id", sort=False)["amount"].transform(lambda a: a.shift().expanding().mean())
    out["amount_vs_user_mean"] = (tx["amount"] / past_mean).fillna(1.0)
    out["tx_count_10min"] = _rolling_count(tx["user_id"].to_numpy(), ts.to_numpy(), 600)
    in_store = tx["channel"] == "in_store"
    distance = haversine_km(tx["home_lat"], tx["home_lon"], tx["m_lat"], tx["m_lon"])
    out["distance_home_km"] = np.where(in_store, distance, 0.0)
    # Implied speed between consecutive in-store payments (an online merchant has no place).
    store = tx[in_store]
    by_user = store.groupby("user_id", sort=False)
    hours = (ts[in_store] - ts[in_store].groupby(store["user_id"]).shift()) / 3600
    km = haversine_km(by_user["m_lat"].shift(), by_user["m_lon"].shift(), store["m_lat"], store["m_lon"])
    out["implied_speed_kmh"] = (km / hours.clip(lower=1 / 60)).reindex(tx.index).fillna(0.0)
    out["km_from_previous_store"] = km.reindex(tx.index).fillna(0.0)
    out["small_amount"] = -tx["amount"]
    out["account_age_days"] = -((tx["timestamp"] - tx["signup_date"]).dt.total_seconds() / 86400)
    out["merchant_age_days"] = -((tx["timestamp"] - tx["created_at"]).dt.total_seconds() / 86400)
    out["merchant_fraud_rate_delayed"] = _delayed_merchant_rate(tx)
    return out.sort_index()  # back to the caller's row order


def _rolling_count(user: np.ndarray, ts: np.ndarray, window_s: float) -> np.ndarray:
    """Per user (rows sorted by user, then time): transactions in the window ending at each one."""
    counts = np.empty(len(ts))
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    for low, high in zip(starts, np.r_[starts[1:], len(ts)], strict=True):
        times = ts[low:high]
        counts[low:high] = np.arange(1, high - low + 1) - np.searchsorted(
            times, times - window_s, side="right"
        )
    return counts


def _delayed_merchant_rate(tx: pd.DataFrame) -> pd.Series:
    """The merchant's fraud rate over transactions whose labels are older than the label delay."""
    history = tx[["merchant_id", "timestamp", "is_fraud"]].sort_values("timestamp", kind="stable")
    history["frauds"] = history.groupby("merchant_id")["is_fraud"].cumsum()
    history["count"] = history.groupby("merchant_id").cumcount() + 1
    history["known_at"] = (history["timestamp"] + LABEL_DELAY).astype(history["timestamp"].dtype)
    query = tx[["merchant_id", "timestamp"]].reset_index().sort_values("timestamp", kind="stable")
    joined = pd.merge_asof(
        query,
        history[["merchant_id", "known_at", "frauds", "count"]].sort_values("known_at"),
        left_on="timestamp",
        right_on="known_at",
        by="merchant_id",
    ).set_index("index")
    return (joined["frauds"] / joined["count"]).fillna(0.0).reindex(tx.index)


SIGNAL_OF = {
    "account_takeover": ["device_age_minutes", "amount_vs_user_mean", "distance_home_km"],
    "card_testing": ["tx_count_10min", "small_amount", "device_age_minutes"],
    "compromised_merchant": ["merchant_fraud_rate_delayed", "merchant_age_days"],
    "impossible_travel": ["implied_speed_kmh", "km_from_previous_store"],
    "fresh_account_abuse": ["account_age_days"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tx = load(args.days, Path(scratch) / "data")
    hour = tx["timestamp"].dt.hour
    raw = pd.DataFrame(
        {
            "amount": tx["amount"],
            "hour": hour,
            "online": (tx["channel"] == "online").astype(float),
            "currency_fraud_rate": tx["currency"].map(tx.groupby("currency")["is_fraud"].mean()),
        }
    )
    computed = signals(tx)
    # Evaluate after a warm-up week: before it, no user has a history yet.
    day = (tx["timestamp"] - tx["timestamp"].min()).dt.days
    evaluated = (day >= WARM_UP_DAYS).to_numpy()
    fraud = tx["is_fraud"].to_numpy()
    rows = []
    single_raw = {
        "amount (high)": raw["amount"],
        "amount (low)": -raw["amount"],
        "hour of day (its fraud rate)": hour.map(tx.groupby(hour)["is_fraud"].mean()),
        "channel online": raw["online"],
        "currency (its fraud rate)": raw["currency_fraud_rate"],
    }
    for name, values in single_raw.items():
        rows.append({"kind": "raw field", "feature": name, "auc_pr_all_fraud": _ap(fraud, values, evaluated)})
    for scenario, names in SIGNAL_OF.items():
        own = evaluated & ((tx["fraud_scenario"] == scenario) | ~tx["is_fraud"]).to_numpy()
        for name in names:
            rows.append(
                {
                    "kind": f"signal of {scenario}",
                    "feature": name,
                    "auc_pr_all_fraud": _ap(fraud, computed[name], evaluated),
                    "auc_pr_own_scenario": _ap(fraud, computed[name], own),
                }
            )
    train = evaluated & (day < TEST_FROM_DAY).to_numpy()
    test = (day >= TEST_FROM_DAY).to_numpy()
    models = {}
    for name, features in {
        "raw fields only": raw,
        "raw fields + platform signals": raw.join(computed),
    }.items():
        model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(
            features[train], fraud[train]
        )
        score = model.predict_proba(features[test])[:, 1]
        per_scenario = {
            scenario: _ap(
                fraud[test], score, ((tx["fraud_scenario"] == scenario) | ~tx["is_fraud"]).to_numpy()[test]
            )
            for scenario in SIGNAL_OF
        }
        models[name] = {"auc_pr_all_fraud": _ap(fraud[test], score), "auc_pr_per_scenario": per_scenario}
    report = {
        "benchmark": "simulator_signals",
        "transactions": len(tx),
        "fraud_rate": round(fraud.mean(), 4),
        "warm_up_days": WARM_UP_DAYS,
        "rows": rows,
        "models_trained_before_day": TEST_FROM_DAY,
        "models": models,
    }
    print(json.dumps(report, indent=2))
    print("\n| kind | feature | AUC-PR, all fraud | AUC-PR, own scenario vs legit |\n|---|---|---|---|")
    for row in rows:
        own = row.get("auc_pr_own_scenario", "")
        print(f"| {row['kind']} | {row['feature']} | {row['auc_pr_all_fraud']:.3f} | {own} |")
    print(
        "\n| model (gradient boosting, test = later days) | AUC-PR all fraud | "
        + " | ".join(SIGNAL_OF)
        + " |"
    )
    print("|---" * (2 + len(SIGNAL_OF)) + "|")
    for name, result in models.items():
        cells = " | ".join(f"{v:.3f}" for v in result["auc_pr_per_scenario"].values())
        print(f"| {name} | {result['auc_pr_all_fraud']:.3f} | {cells} |")


def _ap(label, score, rows=None) -> float:
    label, score = np.asarray(label), np.nan_to_num(np.asarray(score, dtype=float))
    if rows is not None:
        label, score = label[rows], score[rows]
    return round(float(average_precision_score(label, score)), 3)


if __name__ == "__main__":
    main()
