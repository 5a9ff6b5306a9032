"""Does each step of the platform's work add lift? The default pipeline trained on the Faker world with
(a) transaction fields only, (b) + user and merchant attributes, (c) + behavioural features.

    .venv/bin/python benchmarks/feature_lift.py [--days 30]   -> JSON, then a markdown table
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from fraudguard.config import load_settings
from fraudguard.features.batch import build_features
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset
from fraudguard.train.pipeline import FEATURE_SETS
from fraudguard.train.trainer import train

LIFT_SETS = ("transaction", "entities", "behaviour")  # each adds to the one before


def model_figures(metrics: dict, seconds: float) -> dict:
    """A trained model's headline test figures, as the benchmarks report them."""
    return {
        "auc_pr": round(metrics["auc_pr"], 4),
        "card_precision_at_100": round(metrics["card_precision_at_100"], 4),
        "precision_at_threshold": round(metrics["precision_at_threshold"], 4),
        "recall_at_threshold": round(metrics["recall_at_threshold"], 4),
        "recall_per_scenario": {
            k.removeprefix("recall_"): round(v, 4)
            for k, v in metrics.items()
            if k.startswith("recall_") and k != "recall_at_threshold"
        },
        "fit_and_score_s": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings()
    world = settings.simulator.model_copy(update={"days": args.days})
    model = settings.model.model_copy(update={"search_budget_s": 0})
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_batch(FakerWorldTimeline(world), data, settings_json={})
        spark = spark_session(settings, "feature-lift")
        features = build_features(*Dataset(data).frames(spark), settings.features).cache()
        for name in LIFT_SETS:
            started = time.perf_counter()
            result = train(features, model, settings.features, FEATURE_SETS[name])
            rows[name] = model_figures(result.test_metrics, time.perf_counter() - started)
        test_days = "{}..{}".format(*result.split.test)
    print(
        json.dumps(
            {"benchmark": "feature_lift", "days": args.days, "test_days": test_days, "sets": rows}, indent=2
        )
    )
    scenarios = list(next(iter(rows.values()))["recall_per_scenario"])
    print("\n| features | AUC-PR | CP@100 | precision | recall | " + " | ".join(scenarios) + " |")
    print("|---" * (5 + len(scenarios)) + "|")
    for name, row in rows.items():
        recalls = " | ".join(f"{row['recall_per_scenario'][s]:.2f}" for s in scenarios)
        print(
            f"| {name} | {row['auc_pr']:.3f} | {row['card_precision_at_100']:.3f} | "
            f"{row['precision_at_threshold']:.3f} | {row['recall_at_threshold']:.3f} | {recalls} |"
        )


if __name__ == "__main__":
    main()
