"""Evaluation metrics on hand-made predictions whose right answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from fraudguard.train.metrics import (
    calibration_error,
    card_precision_at_k,
    evaluate,
    threshold_for_daily_budget,
    threshold_for_precision,
)


def scored(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["day", "user_id", "label", "score"])
    frame["timestamp"] = pd.to_datetime(frame.pop("day"), utc=True) + pd.Timedelta(hours=12)
    return frame


def test_card_precision_ranks_cards_by_their_best_score_and_drops_cards_already_caught():
    data = scored(
        [
            ("2026-01-01", "a", 1, 0.9),
            ("2026-01-01", "a", 0, 0.1),
            ("2026-01-01", "b", 0, 0.8),
            ("2026-01-01", "c", 1, 0.2),
            ("2026-01-02", "a", 1, 0.99),  # caught on day 1: not counted again
            ("2026-01-02", "c", 1, 0.7),
            ("2026-01-02", "b", 0, 0.6),
        ]
    )
    # Day 1 top 2: a (fraud), b (no) -> 1/2. Day 2 without a: c (fraud), b (no) -> 1/2.
    assert card_precision_at_k(data, k=2) == 0.5
    # Top 1: day 1 a -> 1; day 2 c -> 1.
    assert card_precision_at_k(data, k=1) == 1.0


def test_daily_budget_threshold_gives_that_many_alerts_per_day():
    data = scored([("2026-01-01", "u", 0, s / 10) for s in range(10)] + [("2026-01-02", "u", 0, 0.05)])
    threshold = threshold_for_daily_budget(data, alerts_per_day=2)  # 4 alerts over 2 days
    assert (data["score"] >= threshold).sum() == 4


def test_precision_threshold_is_the_lowest_that_reaches_the_target():
    data = scored(
        [
            ("2026-01-01", "u", label, score)
            for label, score in [(1, 0.9), (1, 0.8), (0, 0.7), (1, 0.6), (0, 0.5)]
        ]
    )
    assert threshold_for_precision(data, 0.75) == 0.6  # top 4: 3/4
    assert threshold_for_precision(data, 1.0) == 0.8


def test_evaluate_reports_ranking_threshold_and_per_scenario_recall_and_auc_pr():
    data = scored(
        [
            ("2026-01-01", "u1", 1, 0.9),
            ("2026-01-01", "u2", 1, 0.4),
            ("2026-01-01", "u3", 0, 0.5),
            ("2026-01-01", "u4", 0, 0.1),
            ("2026-01-02", "u5", 0, 0.95),  # a fraud never reported: unlabelled, but no legitimate row
        ]
    )
    data["fraud_scenario"] = ["card_testing", "account_takeover", None, None, "card_testing"]
    metrics = evaluate(data.iloc[:4], threshold=0.45, k=2)
    assert metrics["auc_roc"] == 0.75
    assert metrics["auc_pr"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["precision_at_threshold"] == 0.5 and metrics["recall_at_threshold"] == 0.5
    assert metrics["recall_card_testing"] == 1.0 and metrics["recall_account_takeover"] == 0.0
    assert metrics["card_precision_at_2"] == 0.5
    # each scenario against the legitimate rows only: 0.4 ranks below one of the two
    assert metrics["auc_pr_card_testing"] == 1.0 and metrics["auc_pr_account_takeover"] == 0.5
    assert not any(name.startswith("session_recall_") for name in metrics)
    with_unreported = evaluate(data, threshold=0.45, k=2)
    assert with_unreported["auc_pr"] < metrics["auc_pr"], "the label is what the platform knows"
    assert with_unreported["auc_pr_account_takeover"] == 0.5


def test_the_recall_of_payments_with_a_browsing_session_is_reported_per_scenario():
    data = scored(
        [
            ("2026-01-01", "u1", 1, 0.9),
            ("2026-01-01", "u2", 1, 0.4),
            ("2026-01-01", "u3", 1, 0.3),
            ("2026-01-01", "u4", 0, 0.1),
        ]
    )
    data["fraud_scenario"] = ["account_takeover", "account_takeover", "impossible_travel", None]
    data["session_id"] = ["s1", None, None, "s4"]
    metrics = evaluate(data, threshold=0.45)
    assert metrics["recall_account_takeover"] == 0.5
    assert metrics["session_recall_account_takeover"] == 1.0
    assert "session_recall_impossible_travel" not in metrics, "no payment of it had a session"


def test_the_calibration_error_is_the_weighted_gap_between_score_and_fraud_share_per_bin():
    import numpy as np

    labels = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    assert calibration_error(labels[:4], np.full(4, 0.25)) == pytest.approx(0.0)
    # bin 0.2-0.3: 4 rows at 0.25 with 1 fraud (gap 0); bin 0.9-1: 6 rows at 0.95 with 2 frauds
    scores = np.array([0.25] * 4 + [0.95] * 6)
    assert calibration_error(labels, scores) == pytest.approx(6 / 10 * abs(0.95 - 2 / 6))
    assert calibration_error(labels, np.ones(10)) == pytest.approx(1 - labels.mean())


def test_the_alert_score_gap_is_the_alerts_mean_score_minus_their_precision():
    data = scored([("2026-01-01", u, label, score) for u, label, score in
                   [("a", 1, 0.9), ("b", 0, 0.8), ("c", 1, 0.7), ("d", 0, 0.1)]])  # fmt: skip
    assert evaluate(data, threshold=0.7)["alert_score_gap"] == pytest.approx(0.8 - 2 / 3)
