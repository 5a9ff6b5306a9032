"""Evaluation of scored transactions: ranking quality, the handbook's card precision, and what the
fraud team gets at the operating threshold.

Input: a pandas DataFrame with `label` (1 fraud) and `score`, and where the data has them `user_id`,
`timestamp` and, for per-scenario figures, `fraud_scenario` (and `session_id`, for the recall of the
payments that ended a browsing session). Without users, each transaction is its own
card; without times, all rows are one day and there is no daily rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def daily_top_cards(scored: pd.DataFrame, k: int = 100) -> Iterator[tuple[Any, pd.DataFrame, pd.DataFrame]]:
    """The handbook's card ranking, day by day: the day (midnight), its cards (users) not caught on an
    earlier day, each with its highest score and whether it had a fraud (`score`, `fraud`), and the top
    k of them. A card is caught when it is in a day's top k with a fraud."""
    caught: set[str] = set()
    card = "user_id" if "user_id" in scored else "transaction_id"
    days = scored["timestamp"].dt.floor("D") if "timestamp" in scored else np.zeros(len(scored))
    for midnight, day in scored.groupby(days, sort=True):
        day = day[~day[card].isin(caught)]
        cards = day.groupby(card).agg(score=("score", "max"), fraud=("label", "max"))
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        caught.update(top.index[top["fraud"] > 0])
        yield midnight, cards, top


def card_precision_at_k(scored: pd.DataFrame, k: int = 100) -> float:
    """The handbook's CP@k: per day, the share of the top k cards (`daily_top_cards`) with a fraud that
    day. Mean over days."""
    precisions = [int((top["fraud"] > 0).sum()) / k for _, _, top in daily_top_cards(scored, k)]
    return float(np.mean(precisions)) if precisions else 0.0


def threshold_for_daily_budget(scored: pd.DataFrame, alerts_per_day: int) -> float:
    """The score above which, on these days, there are `alerts_per_day` alerts per day on average."""
    days = max(scored["timestamp"].dt.floor("D").nunique(), 1)
    wanted = min(alerts_per_day * days, len(scored))
    if wanted == 0:
        return 1.0
    return float(np.sort(scored["score"].to_numpy())[::-1][wanted - 1])


def threshold_for_precision(scored: pd.DataFrame, min_precision: float) -> float:
    """The lowest threshold whose precision reaches `min_precision` (the highest score if none does)."""
    ordered = scored.sort_values("score", ascending=False, kind="stable")
    hits = ordered["label"].to_numpy().cumsum()
    precision = hits / np.arange(1, len(ordered) + 1)
    good = np.flatnonzero(precision >= min_precision)
    scores = ordered["score"].to_numpy()
    return float(scores[good[-1]] if len(good) else scores[0])


def calibration_error(label: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: over `bins` equal-width score bins, the row-weighted gap between
    the bin's mean score and its share of frauds (0 when a score is the frauds' share among its like)."""
    which = np.minimum((score * bins).astype(int), bins - 1)
    rows = np.bincount(which, minlength=bins)
    gaps = np.abs(np.bincount(which, score, bins) - np.bincount(which, label, bins))
    return float(gaps.sum() / max(rows.sum(), 1))


def evaluate(scored: pd.DataFrame, threshold: float, k: int = 100) -> dict[str, float]:
    label, score = scored["label"].to_numpy(), scored["score"].to_numpy()
    flagged = score >= threshold
    true_positives = int((flagged & (label > 0)).sum())
    metrics = {
        "auc_pr": float(average_precision_score(label, score)) if label.any() else 0.0,
        "auc_roc": float(roc_auc_score(label, score)) if 0 < label.sum() < len(label) else 0.5,
        "brier_score": float(np.mean((score - label) ** 2)) if len(label) else 0.0,
        "calibration_error": calibration_error(label, score),
        f"card_precision_at_{k}": card_precision_at_k(scored, k),
        "threshold": float(threshold),
        "precision_at_threshold": float(true_positives / flagged.sum()) if flagged.any() else 0.0,
        # what an analyst reads: the alerts' mean score against the share of them that are fraud
        "alert_score_gap": float(score[flagged].mean() - true_positives / flagged.sum())
        if flagged.any()
        else 0.0,
        "recall_at_threshold": float(true_positives / label.sum()) if label.any() else 0.0,
        "transactions": float(len(scored)),
        "frauds": float(label.sum()),
    }
    if "timestamp" in scored:
        days = max(scored["timestamp"].dt.floor("D").nunique(), 1)
        metrics["alerts_per_day"] = float(flagged.sum() / days)
        metrics["frauds_per_day"] = float(label.sum() / days)
    if "fraud_scenario" in scored:
        # Not a fraud at all: an unreported fraud (no label, but a scenario) is no legitimate row.
        legit = score[(label == 0) & scored["fraud_scenario"].isna().to_numpy()]
        for scenario, rows in scored[label > 0].groupby("fraud_scenario"):
            metrics[f"recall_{scenario}"] = float((rows["score"] >= threshold).mean())
            # The scenario's frauds against the legitimate rows only: how well the model tells them
            # apart, whatever it makes of the other scenarios that compete for the same alerts.
            ranked = np.concatenate([rows["score"].to_numpy(), legit])
            truth = np.arange(len(ranked)) < len(rows)
            metrics[f"auc_pr_{scenario}"] = float(average_precision_score(truth, ranked))
            if "session_id" in scored:
                # Only these payments have a browsing trace for session features to read.
                browsed = rows[rows["session_id"].notna()]
                if len(browsed):
                    metrics[f"session_recall_{scenario}"] = float((browsed["score"] >= threshold).mean())
    return metrics
