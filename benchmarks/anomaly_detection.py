"""Unsupervised against supervised: the isolation forest alone (trained without labels), the default
supervised pipeline, and the default pipeline with the forest's score as an input, on the same
features and test rows.

- the Faker world (`--days`, default 30): the platform's own split (last test days);
- the handbook world (`--seeds`, `--weeks`): the book's protocol (`handbook_comparison.protocol_split`),
  the book week and the weeks given after it, known-compromised cards removed from the test rows.

    .venv/bin/python benchmarks/anomaly_detection.py [--worlds faker handbook] [--days 30]
        [--seeds 0 1] [--weeks 0 2 3]   -> JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from feature_lift import model_figures
from handbook_comparison import protocol_split, without_known_compromised
from pyspark.sql import functions as F

from fraudguard.config import load_settings
from fraudguard.features.batch import build_features
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.handbook import HandbookTimeline, feature_settings
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset
from fraudguard.train.metrics import evaluate
from fraudguard.train.pipeline import DEFAULT_FEATURE_SET, FEATURE_SETS
from fraudguard.train.trainer import train

MODELS = {
    "isolation forest (no labels)": {"classifier": "isolation_forest"},
    "supervised default": {},
    "supervised + anomaly score": {"anomaly_feature": True},
}


def compared(features, settings, split=None, frauds=None) -> dict:
    """Each model trained and scored on the same rows (defaults only: no search)."""
    rows = {}
    for name, choices in MODELS.items():
        model = settings.model.model_copy(update={"search_budget_s": 0, **choices})
        started = time.perf_counter()
        result = train(features, model, settings.features, FEATURE_SETS[DEFAULT_FEATURE_SET], split=split)
        metrics = result.test_metrics
        if frauds is not None:
            metrics = evaluate(without_known_compromised(result.test_scores, frauds, split), result.threshold)
        rows[name] = model_figures(metrics, time.perf_counter() - started)
        print(json.dumps({name: rows[name]}), file=sys.stderr, flush=True)  # progress: a long run
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", nargs="+", default=["faker", "handbook"], choices=["faker", "handbook"])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--weeks", type=int, nargs="+", default=[0, 2, 3], help="0 = the book week")
    args = parser.parse_args()
    settings = load_settings()
    results = []
    if "faker" in args.worlds:
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch) / "faker"
            world = settings.simulator.model_copy(update={"days": args.days})
            write_batch(FakerWorldTimeline(world), data, settings_json={})
            spark = spark_session(settings, "anomaly-detection")
            features = build_features(*Dataset(data).frames(spark), settings.features).cache()
            results.append({"world": f"faker, {args.days} days", "models": compared(features, settings)})
            features.unpersist()
    for seed in args.seeds if "handbook" in args.worlds else []:
        spark = spark_session(settings, "anomaly-detection")
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch) / "handbook"
            write_batch(HandbookTimeline(seed=seed), data, settings_json={"world": "handbook", "seed": seed})
            frames = Dataset(data).frames(spark)
            features = build_features(*frames, feature_settings(settings.features)).cache()
            frauds = (
                features.where("is_fraud").select("user_id", F.to_date("timestamp").alias("day")).distinct()
            ).toPandas()
            for week in args.weeks:
                split = protocol_split(week)
                results.append({"world": f"handbook seed {seed}, test {split.test[0]}..{split.test[1]}",
                                "models": compared(features, settings, split, frauds)})  # fmt: skip
            features.unpersist()
    print(json.dumps({"benchmark": "anomaly_detection", "results": results}, indent=2))


if __name__ == "__main__":
    main()
