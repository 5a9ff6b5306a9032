"""Which learner should the default pipeline end with? Each supervised classifier the platform offers,
on its defaults (no search), trained on the default Faker world's behaviour features with the same
split and threshold rule (100 alerts a day).

    .venv/bin/python benchmarks/learners.py [--days 30] [--classifiers gbt xgboost random_forest]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from feature_lift import model_figures

from fraudguard.config import load_settings
from fraudguard.features.batch import build_features
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset
from fraudguard.train.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--classifiers", nargs="+", default=["gbt", "xgboost", "random_forest"])
    args = parser.parse_args()
    settings = load_settings()
    world = settings.simulator.model_copy(update={"days": args.days})
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_batch(FakerWorldTimeline(world), data, settings_json={})
        spark = spark_session(settings, "learners")
        features = build_features(*Dataset(data).frames(spark), settings.features).cache()
        for classifier in args.classifiers:
            model = settings.model.model_copy(update={"search_budget_s": 0, "classifier": classifier})
            started = time.perf_counter()
            result = train(features, model, settings.features)
            rows[classifier] = model_figures(result.test_metrics, time.perf_counter() - started)
    print(json.dumps({"benchmark": "learners", "days": args.days, "learners": rows}, indent=2))
    scenarios = list(next(iter(rows.values()))["recall_per_scenario"])
    print(
        "\n| learner | AUC-PR | CP@100 | precision | recall | "
        + " | ".join(scenarios)
        + " | fit and score, s |"
    )
    print("|---" * (6 + len(scenarios)) + "|")
    for name, row in rows.items():
        recalls = " | ".join(f"{row['recall_per_scenario'][s]:.2f}" for s in scenarios)
        print(
            f"| {name} | {row['auc_pr']:.3f} | {row['card_precision_at_100']:.3f} | "
            f"{row['precision_at_threshold']:.3f} | {row['recall_at_threshold']:.3f} | {recalls} | "
            f"{row['fit_and_score_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
