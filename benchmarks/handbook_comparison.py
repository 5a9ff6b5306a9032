"""The handbook's chapter-3 protocol on the handbook world: the platform's default pipeline against the
book's baselines as the book trains them.

Train 7 days, 7 days of label delay, test 7 days (the book's week: train 2018-07-25..31, test
08-08..14; then the same protocol shifted by 7, 14 and 21 days). Test transactions of cards already known
as compromised are removed, as in the book: frauds of the training week, plus each delay day's frauds
from the following test day on. Baselines (`book_baselines`): logistic regression, a decision tree of
depth 2, a random forest and XGBoost on the book's 15 features, computed in pandas and trained with
scikit-learn and xgboost as the book does; every model is scored on the same test rows with the same
metrics. Scores on simulated data move with the seed, so compare on the same data. `--train-days`
gives the platform more training days, ending where the book's do (the baselines keep the book's 7,
the test rows stay the same).

    .venv/bin/python benchmarks/handbook_comparison.py [--seeds 0 1 2] [--weeks 4] [--train-days 7]
                                                                                   -> JSON + markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from book_baselines import book_features, train_and_score
from pyspark.sql import functions as F

from fraudguard.config import load_settings
from fraudguard.features.batch import LONGEST_RISK_DAYS, build_features, label_window
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.handbook import HandbookTimeline, feature_settings
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset
from fraudguard.train.metrics import card_precision_at_k, daily_top_cards, evaluate
from fraudguard.train.pipeline import FEATURE_SETS
from fraudguard.train.trainer import Split, train

BOOK_TRAIN_START = date(2018, 7, 25)
PUBLISHED = {  # chapter 3, single split: AUC ROC, average precision, CP@100
    "logistic regression": (0.871, 0.606, 0.291),
    "decision tree (depth 2)": (0.763, 0.496, 0.241),
    "random forest": (0.867, 0.658, 0.287),
    "XGBoost": (0.862, 0.639, 0.273),
}
PLATFORM = "platform default pipeline"


def protocol_split(week: int, train_days: int = 7) -> Split:
    start = BOOK_TRAIN_START + timedelta(days=7 * week)
    day = timedelta(days=1)
    train_days = (start + (7 - train_days) * day, start + 6 * day)
    # No separate validation week in the book's protocol: the threshold (irrelevant to AP and CP@100)
    # is taken on the training week.
    return Split(train=train_days, validation=train_days, delay=(start + 7 * day, start + 13 * day),
                 test=(start + 14 * day, start + 20 * day))  # fmt: skip


def without_known_compromised(scores: pd.DataFrame, frauds: pd.DataFrame, split: Split) -> pd.DataFrame:
    """The book's rule: a card with a fraud in the training week, or in the delay days whose labels are
    known by a test day, is no longer scored from that test day on."""
    in_training = (frauds["day"] >= split.train[0]) & (frauds["day"] <= split.train[1])
    known = set(frauds.loc[in_training, "user_id"])
    kept = []
    for offset in range(7):
        test_day = split.test[0] + timedelta(days=offset)
        known |= set(frauds.loc[frauds["day"] == split.train[1] + timedelta(days=offset), "user_id"])
        rows = scores[scores["timestamp"].dt.date == test_day]
        kept.append(rows[~rows["user_id"].isin(known)])
    return pd.concat(kept)


MISSED_KINDS = (  # what could give a missed card away, most telling first
    "high_amount",
    "compromised_card",
    "terminal_labelled",  # its terminal's compromise shows in labels outside the delay
    "terminal_within_delay",  # compromised too recently for any label to show it
)


def hours(times: pd.Series) -> np.ndarray:
    """Whole hours since the epoch, the platform's risk-rate calendar (`features.batch.hour_number`)."""
    return ((times - pd.Timestamp(0)) // pd.Timedelta(hours=1)).to_numpy(np.int64)


def missed_cards(scored: pd.DataFrame, fraud_rows: pd.DataFrame, delay_days: int, k: int = 100) -> dict:
    """Per test day on average: the compromised cards left to find (not known, not caught earlier), how
    many the model's top k holds, and the missed ones by the most telling kind of their frauds. A
    terminal's fraud counts as labelled when the terminal had a compromised-terminal fraud in the hours
    the platform's merchant rates read (`label_window`)."""
    low, high = label_window(delay_days, LONGEST_RISK_DAYS)
    terminal = fraud_rows[fraud_rows["fraud_scenario"] == "compromised_terminal"]
    terminal_hours = {
        merchant: np.sort(hours(t)) for merchant, t in terminal.groupby("merchant_id")["timestamp"]
    }
    frauds = scored[scored["label"] > 0].merge(
        fraud_rows[["transaction_id", "merchant_id"]], on="transaction_id"
    )

    def kind(row: pd.Series) -> str:
        if row["fraud_scenario"] != "compromised_terminal":
            return str(row["fraud_scenario"])
        seen = terminal_hours.get(row["merchant_id"], np.array([], dtype=np.int64))
        first, last = np.searchsorted(seen, [row["hour"] + low, row["hour"] + high + 1])
        return "terminal_labelled" if last > first else "terminal_within_delay"

    frauds = frauds.assign(day=frauds["timestamp"].dt.date, hour=hours(frauds["timestamp"]))
    frauds = frauds.assign(kind=frauds.apply(kind, axis=1) if len(frauds) else pd.Series(dtype=str))
    rank = {name: position for position, name in enumerate(MISSED_KINDS)}
    most_telling = frauds.groupby(["day", "user_id"])["kind"].agg(lambda kinds: min(kinds, key=rank.get))
    left, caught, missed, days = 0, 0, dict.fromkeys(MISSED_KINDS, 0), 0
    for midnight, cards, top in daily_top_cards(scored, k):
        days += 1
        fraud_cards = cards.index[cards["fraud"] > 0]
        left += len(fraud_cards)
        caught += int((top["fraud"] > 0).sum())
        for card in fraud_cards.difference(top.index):
            missed[most_telling[(midnight.date(), card)]] += 1
    return {
        "fraud_cards_per_day": round(left / days, 1),
        f"in_top_{k}_per_day": round(caught / days, 1),
        "missed_per_day": {name: round(count / days, 1) for name, count in missed.items()},
    }


WANTED_MARGIN = {"average_precision": 0.03, "card_precision_at_100": 0.01}
"""How far ahead of the best baseline a fraud team wants the default pipeline, in every week."""


def platform_beats_baselines(results: list[dict], ceilings: dict[tuple[int, str], float]) -> list[dict]:
    """Per seed and test week: does the platform's pipeline beat the best baseline in AP and CP@100, and
    by `WANTED_MARGIN`? With the CP@100 a perfect ranking would reach there (the compromised cards per
    day bound it)."""
    verdicts = []
    for seed, week in dict.fromkeys((r["seed"], r["test_week"]) for r in results):
        rows = [r for r in results if (r["seed"], r["test_week"]) == (seed, week)]
        platform = next(r for r in rows if r["model"] == PLATFORM)
        baselines = [r for r in rows if r["model"] != PLATFORM]
        best = {m: max(r[m] for r in baselines) for m in WANTED_MARGIN}
        margin = {m: round(platform[m] - v, 3) for m, v in best.items()}
        verdicts.append(
            {"seed": seed, "test_week": week, **{f"best_baseline_{m}": v for m, v in best.items()},
             **{f"margin_{m}": v for m, v in margin.items()},
             "card_precision_at_100_ceiling": ceilings[(seed, week)],
             "beats": all(v > 0 for v in margin.values()),
             "by_the_wanted_margin": all(margin[m] >= wanted for m, wanted in WANTED_MARGIN.items())}
        )  # fmt: skip
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument(
        "--train-days", type=int, default=7, help="the platform's training days, ending where the book's do"
    )
    args = parser.parse_args()
    settings = load_settings()
    settings = settings.model_copy(update={"features": feature_settings(settings.features)})
    results, ceilings = [], {}
    for seed in args.seeds:
        # A fresh session per seed: in one session, after seeds 0 and 1 (32 fits, ~150,000 stages),
        # seed 2's features ran the 2 GB driver heap out of memory (building a broadcast).
        spark = spark_session(settings, "handbook-comparison")
        with tempfile.TemporaryDirectory() as scratch:
            data = Path(scratch) / "handbook"
            write_batch(HandbookTimeline(seed=seed), data, settings_json={"world": "handbook", "seed": seed})
            book = book_features(data)
            features = build_features(*Dataset(data).frames(spark), settings.features).cache()
            fraud_rows = (
                features.where("is_fraud")
                .select("transaction_id", "user_id", "merchant_id", "fraud_scenario", "timestamp",
                        F.to_date("timestamp").alias("day"))
                .toPandas()
            )  # fmt: skip
            frauds = fraud_rows[["user_id", "day"]].drop_duplicates()
            for week in range(args.weeks):
                split = protocol_split(week, args.train_days)
                book_split = protocol_split(week)
                started = time.perf_counter()
                model = settings.model.model_copy(update={"search_budget_s": 0})
                result = train(features, model, settings.features, FEATURE_SETS["behaviour"], split=split)
                scored = without_known_compromised(result.test_scores, frauds, book_split)
                perfect = scored.assign(score=scored["label"])
                ceilings[(seed, "{}..{}".format(*split.test))] = round(card_precision_at_k(perfect), 3)
                runs = {PLATFORM: (scored, time.perf_counter() - started)}
                for name, (scores, seconds) in train_and_score(
                    book, book_split.train, book_split.test
                ).items():
                    # the platform's test rows and labels, the book model's scores
                    rows = scored.drop(columns="score").merge(scores, on="transaction_id", how="left")
                    if rows["score"].isna().any():
                        raise SystemExit(f"{name}: no score for {rows['score'].isna().sum()} test rows")
                    runs[name] = (rows, seconds)
                for name, (rows, seconds) in runs.items():
                    metrics = evaluate(rows, result.threshold)
                    results.append(
                        {
                            "seed": seed,
                            "test_week": "{}..{}".format(*split.test),
                            "model": name,
                            "auc_roc": round(metrics["auc_roc"], 3),
                            "average_precision": round(metrics["auc_pr"], 3),
                            "card_precision_at_100": round(metrics["card_precision_at_100"], 3),
                            "test_transactions": len(rows),
                            "seconds": round(seconds, 1),
                            "cards": missed_cards(rows, fraud_rows, settings.features.label_delay_days),
                        }
                    )
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress
            features.unpersist()
        spark.stop()
    verdicts = platform_beats_baselines(results, ceilings)
    print(
        json.dumps(
            {"benchmark": "handbook_comparison", "published": PUBLISHED, "results": results,
             "platform_beats_best_baseline": verdicts},
            indent=2,
        )
    )  # fmt: skip
    print("\n| seed | test week | model | AUC ROC | AP | CP@100 |\n|---|---|---|---|---|---|")
    for row in results:
        print(
            f"| {row['seed']} | {row['test_week']} | {row['model']} | {row['auc_roc']:.3f} | "
            f"{row['average_precision']:.3f} | {row['card_precision_at_100']:.3f} |"
        )
    for name, (roc, ap, cp) in PUBLISHED.items():
        print(f"| book | 2018-08-08..14 | published {name} | {roc:.3f} | {ap:.3f} | {cp:.3f} |")
    print(
        "\n| seed | test week | model | compromised cards a day left to find | in its top 100 | missed: "
        + " | ".join(MISSED_KINDS)
        + " |\n|---|---|---|---|---|"
        + "---|" * len(MISSED_KINDS)
    )
    for row in results:
        cards = row["cards"]
        missed = " | ".join(f"{cards['missed_per_day'][kind]:.1f}" for kind in MISSED_KINDS)
        print(
            f"| {row['seed']} | {row['test_week']} | {row['model']} | {cards['fraud_cards_per_day']:.1f} | "
            f"{cards['in_top_100_per_day']:.1f} | {missed} |"
        )
    print(
        "\n| seed | test week | margin over the best baseline, AP / CP@100 | beats it | by +0.03 AP and "
        "+0.01 CP@100 | CP@100 ceiling |"
    )
    print("|---|---|---|---|---|---|")
    for v in verdicts:
        beats, by_margin = ("yes" if v[key] else "no" for key in ("beats", "by_the_wanted_margin"))
        print(
            f"| {v['seed']} | {v['test_week']} | {v['margin_average_precision']:+.3f} / "
            f"{v['margin_card_precision_at_100']:+.3f} | {beats} | {by_margin} | "
            f"{v['card_precision_at_100_ceiling']:.3f} |"
        )


if __name__ == "__main__":
    main()
