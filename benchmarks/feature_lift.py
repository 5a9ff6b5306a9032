"""Does each step of the platform's work add lift? The default pipeline trained on the Faker world with
(a) transaction fields only, (b) + user and merchant attributes, (c) + behavioural features (the
default), (d) + the payment's browsing session. Then which learner should end the pipeline: the other
supervised classifiers on (c), with the same split and threshold rule, and the default one without its
calibration; every model on its defaults, without the search. The Brier score, the expected
calibration error (ECE, ten equal-width bins) and the alerts' mean score minus their precision say how
far a score is from the share of frauds among scores like it. Each scenario's AUC-PR against the
legitimate rows shows what a feature set adds for it apart from the alert budget the scenarios share;
its recall over the payments that ended a browsing session shows what session features add where they
have something to read. The labels are what the platform learns from and knows; some simulated
frauds are never reported (`simulator.unreported_fraud_share`), so the same figures against every
fraud say what the alerts catch.

    .venv/bin/python benchmarks/feature_lift.py [--days 30] [--seed N]   -> JSON, then five markdown tables
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
from fraudguard.train.metrics import evaluate
from fraudguard.train.pipeline import DEFAULT_FEATURE_SET, FEATURE_SETS
from fraudguard.train.trainer import TrainResult, train

LIFT_SETS = ("transaction", "entities", "behaviour", "sessions")  # each adds to the one before
LEARNERS_ON = DEFAULT_FEATURE_SET
LEARNERS = (("xgboost", "platt"), ("xgboost", "none"), ("gbt", "platt"), ("random_forest", "platt"))


def model_figures(result: TrainResult, seconds: float) -> dict:
    """A trained model's headline test figures, as the benchmarks report them: against the labels (what
    the platform knows) and against every fraud of the simulated world, reported or not."""
    metrics, scores = result.test_metrics, result.test_scores
    truth = evaluate(scores.assign(label=scores["fraud_scenario"].notna().astype(float)), result.threshold)
    return {
        **catch_figures(metrics),
        "brier_score": round(metrics["brier_score"], 5),
        "calibration_error": round(metrics["calibration_error"], 5),
        "alert_score_gap": round(metrics["alert_score_gap"], 4),
        "alerts_per_day": round(metrics["alerts_per_day"], 1),
        "auc_pr_per_scenario": per_scenario(metrics, "auc_pr_"),
        "session_recall_per_scenario": per_scenario(metrics, "session_recall_"),
        "fit_and_score_s": round(seconds, 1),
        "every_fraud": catch_figures(truth),
    }


def catch_figures(metrics: dict) -> dict:
    """What the alerts catch: ranking, card precision, and precision and recall at the threshold."""
    return {
        "auc_pr": round(metrics["auc_pr"], 4),
        "card_precision_at_100": round(metrics["card_precision_at_100"], 4),
        "precision_at_threshold": round(metrics["precision_at_threshold"], 4),
        "recall_at_threshold": round(metrics["recall_at_threshold"], 4),
        "frauds_per_day": round(metrics["frauds_per_day"], 1),
        "recall_per_scenario": per_scenario(metrics, "recall_"),
    }


def per_scenario(metrics: dict, prefix: str) -> dict[str, float]:
    """The metrics named `prefix` + a scenario, by scenario."""
    return {
        name.removeprefix(prefix): round(value, 4)
        for name, value in metrics.items()
        if name.startswith(prefix) and name != "recall_at_threshold"
    }


def print_table(heading: str, rows: dict[str, dict]) -> None:
    """`model_figures` rows as a markdown table, one row per model."""
    scenarios = list(next(iter(rows.values()))["recall_per_scenario"])
    print(
        f"\n| {heading} | AUC-PR | CP@100 | precision | recall | "
        + " | ".join(scenarios)
        + " | Brier | ECE | alerts' score - precision | fit and score, s |"
    )
    print("|---" * (9 + len(scenarios)) + "|")
    for name, row in rows.items():
        recalls = " | ".join(f"{row['recall_per_scenario'][s]:.2f}" for s in scenarios)
        print(
            f"| {name} | {row['auc_pr']:.3f} | {row['card_precision_at_100']:.3f} | "
            f"{row['precision_at_threshold']:.3f} | {row['recall_at_threshold']:.3f} | {recalls} | "
            f"{row['brier_score']:.4f} | {row['calibration_error']:.4f} | {row['alert_score_gap']:+.3f} | "
            f"{row['fit_and_score_s']:.0f} |"
        )


def print_per_scenario(heading: str, rows: dict[str, dict], key: str) -> None:
    """One `model_figures` per-scenario figure (`key`) as a markdown table, one row per model."""
    scenarios = list(next(iter(rows.values()))[key])
    print(f"\n| {heading} | " + " | ".join(scenarios) + " |")
    print("|---" * (1 + len(scenarios)) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[key][s]:.3f}" for s in scenarios) + " |")


def print_every_fraud(rows: dict[str, dict]) -> None:
    """`model_figures` rows' figures against every fraud, reported or not, as a markdown table."""
    scenarios = list(next(iter(rows.values()))["every_fraud"]["recall_per_scenario"])
    print(
        "\n| features, against every fraud (reported or not) | AUC-PR | CP@100 | precision | recall | "
        "frauds a day | " + " | ".join(scenarios) + " |"
    )
    print("|---" * (6 + len(scenarios)) + "|")
    for name, row in rows.items():
        every = row["every_fraud"]
        recalls = " | ".join(f"{every['recall_per_scenario'][s]:.2f}" for s in scenarios)
        print(
            f"| {name} | {every['auc_pr']:.3f} | {every['card_precision_at_100']:.3f} | "
            f"{every['precision_at_threshold']:.3f} | {every['recall_at_threshold']:.3f} | "
            f"{every['frauds_per_day']:.1f} | {recalls} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, help="the world's seed (default: the configured one)")
    args = parser.parse_args()
    settings = load_settings()
    world = settings.simulator.model_copy(
        update={"days": args.days, "seed": settings.simulator.seed if args.seed is None else args.seed}
    )
    model = settings.model.model_copy(update={"search_budget_s": 0})
    sets, learners = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        write_batch(FakerWorldTimeline(world), data, settings_json={})
        spark = spark_session(settings, "feature-lift")
        dataset = Dataset(data)
        features = build_features(*dataset.frames(spark), settings.features, dataset.sessions(spark)).cache()
        for name in LIFT_SETS:
            started = time.perf_counter()
            result = train(features, model, settings.features, FEATURE_SETS[name])
            sets[name] = model_figures(result, time.perf_counter() - started)
        test_days = "{}..{}".format(*result.split.test)
        for classifier, calibration in LEARNERS:
            name = (
                classifier if calibration == model.calibration else f"{classifier}, {calibration} calibration"
            )
            if (classifier, calibration) == (model.classifier, model.calibration):  # trained above
                learners[name] = sets[LEARNERS_ON]
                continue
            started = time.perf_counter()
            other = model.model_copy(update={"classifier": classifier, "calibration": calibration})
            result = train(features, other, settings.features, FEATURE_SETS[LEARNERS_ON])
            learners[name] = model_figures(result, time.perf_counter() - started)
    report = {"benchmark": "feature_lift", "days": args.days, "seed": world.seed, "test_days": test_days,
              "sets": sets, "learners": learners}  # fmt: skip
    print(json.dumps(report, indent=2))
    print_table("features", sets)
    # each scenario against the legitimate rows only, apart from what the scenarios take from each
    # other under one alert budget; and where session features have something to read
    print_per_scenario("features: AUC-PR per scenario", sets, "auc_pr_per_scenario")
    print_per_scenario("features: recall of payments with a session", sets, "session_recall_per_scenario")
    print_every_fraud(sets)
    print_table(f"learner, on {LEARNERS_ON}", learners)
    frauds, alerts = sets[LEARNERS_ON]["frauds_per_day"], sets[LEARNERS_ON]["alerts_per_day"]
    print(
        f"\nTest days, default model: {frauds:.0f} frauds and {alerts:.0f} alerts a day: recall can reach "
        f"{alerts / frauds:.2f} at most."
    )


if __name__ == "__main__":
    main()
