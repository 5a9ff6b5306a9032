"""Is fraud learnable only by doing the platform's work? Average precision (AUC-PR) of single raw
transaction fields versus each scenario's documented signal, as the platform computes it (joins and
user history, `fraudguard.features.batch.build_features`).

    .venv/bin/python benchmarks/simulator_signals.py [--days 30]    -> JSON, then markdown tables

AUC-PR is reported for all fraud (base rate ~1%) and for the signal's own scenario against legitimate
transactions, after a warm-up week (before it no user has a history). Raw categorical fields are
scored by their own fraud rate on the same data (optimistic). Finally a gradient-boosted model
(scikit-learn, independent of the platform's MLlib pipeline) is trained on earlier days and tested on
later ones with raw fields only, then with the signals added.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score

from fraudguard.config import load_settings
from fraudguard.features.batch import build_features
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset

WARM_UP_DAYS = 7
TEST_FROM_DAY = 20
SIGNAL_OF = {  # scenario: [(platform feature, +1 if higher is more suspicious else -1)]
    "account_takeover": [("device_age_min", -1), ("amount_vs_user_avg", 1), ("distance_home_km", 1)],
    "card_testing": [("tx_count_10m", 1), ("amount", -1), ("device_age_min", -1)],
    "compromised_merchant": [
        ("merchant_fraud_rate_7d", 1),
        ("merchant_fraud_rate_28d", 1),
        ("merchant_age_days", -1),
    ],
    "impossible_travel": [("implied_speed_kmh", 1), ("km_from_previous_store", 1)],
    "fresh_account_abuse": [("account_age_days", -1)],
}


def load(days: int) -> pd.DataFrame:
    settings = load_settings()
    world = settings.simulator.model_copy(update={"days": days})
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "data"
        write_batch(FakerWorldTimeline(world), folder, settings_json={})
        spark = spark_session(settings, "simulator-signals")
        features = build_features(*Dataset(folder).frames(spark), settings.features).toPandas()
    return features.sort_values("timestamp", kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    tx = load(args.days)
    fraud = tx["is_fraud"].to_numpy()
    hour = tx["timestamp"].dt.hour
    raw = pd.DataFrame(
        {
            "amount": tx["amount"],
            "hour": hour,
            "online": (tx["channel"] == "online").astype(float),
            "currency_fraud_rate": tx["currency"].map(tx.groupby("currency")["is_fraud"].mean()),
        }
    )
    day = (tx["timestamp"] - tx["timestamp"].min()).dt.days
    evaluated = (day >= WARM_UP_DAYS).to_numpy()

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
    for scenario, signals in SIGNAL_OF.items():
        own = evaluated & ((tx["fraud_scenario"] == scenario) | ~tx["is_fraud"]).to_numpy()
        for column, sign in signals:
            rows.append(
                {
                    "kind": f"signal of {scenario}",
                    "feature": column if sign > 0 else f"{column} (low)",
                    "auc_pr_all_fraud": _ap(fraud, sign * tx[column], evaluated),
                    "auc_pr_own_scenario": _ap(fraud, sign * tx[column], own),
                }
            )

    signal_columns = sorted({column for signals in SIGNAL_OF.values() for column, _ in signals} - {"amount"})
    train = evaluated & (day < TEST_FROM_DAY).to_numpy()
    test = (day >= TEST_FROM_DAY).to_numpy()
    models = {}
    for name, features in {
        "raw fields only": raw,
        "raw fields + platform signals": raw.join(tx[signal_columns]),
    }.items():
        model = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(
            features[train], fraud[train]
        )
        score = model.predict_proba(features[test])[:, 1]
        scenario_rows = {
            s: ((tx["fraud_scenario"] == s) | ~tx["is_fraud"]).to_numpy()[test] for s in SIGNAL_OF
        }
        models[name] = {
            "auc_pr_all_fraud": _ap(fraud[test], score),
            "auc_pr_per_scenario": {s: _ap(fraud[test], score, r) for s, r in scenario_rows.items()},
        }
    report = {
        "benchmark": "simulator_signals",
        "transactions": len(tx),
        "fraud_rate": round(float(fraud.mean()), 4),
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
