"""Where the handbook comparison's missed cards come from: each missed card by the most telling kind of
its frauds, a terminal's compromise counted as labelled only once it shows outside the label delay."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime

import pandas as pd

from tests.conftest import PROJECT_ROOT


def load(name: str):
    """A benchmark script as a module (registered, so its sibling imports find it)."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "benchmarks" / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load("book_baselines")
comparison = load("handbook_comparison")


def test_missed_cards_are_counted_by_what_could_have_given_them_away():
    day, later = datetime(2018, 8, 10, 12), datetime(2018, 8, 11, 12)
    scored = pd.DataFrame(
        [  # transaction, card, time, fraud, scenario, score
            ("a", "old-terminal", day, 1, "compromised_terminal", 0.2),
            ("b", "new-terminal", day, 1, "compromised_terminal", 0.3),
            ("c", "card", day, 1, "compromised_card", 0.1),
            ("c2", "card", day, 1, "compromised_terminal", 0.05),
            ("d", "legit", day, 0, None, 0.9),
            ("e", "card", later, 1, "compromised_card", 0.8),
        ],
        columns=["transaction_id", "user_id", "timestamp", "label", "fraud_scenario", "score"],
    )
    fraud_rows = pd.DataFrame(
        [  # terminal T1 went bad 7 days and 2 hours before: its label shows; T2 7 days before: in the delay
            ("earlier", "x", "T1", "compromised_terminal", datetime(2018, 8, 3, 10)),
            ("recent", "y", "T2", "compromised_terminal", datetime(2018, 8, 3, 12, 30)),
            ("a", "old-terminal", "T1", "compromised_terminal", day),
            ("b", "new-terminal", "T2", "compromised_terminal", day),
            ("c", "card", "T3", "compromised_card", day),
            ("c2", "card", "T2", "compromised_terminal", day),
            ("e", "card", "T3", "compromised_card", later),
        ],
        columns=["transaction_id", "user_id", "merchant_id", "fraud_scenario", "timestamp"],
    )
    cards = comparison.missed_cards(scored, fraud_rows, delay_days=7, k=1)
    assert cards["fraud_cards_per_day"] == 2.0  # three on the first day, one on the second
    assert cards["in_top_1_per_day"] == 0.5  # the legit card tops the first day
    assert cards["missed_per_day"] == {
        "high_amount": 0.0,
        "compromised_card": 0.5,  # its own fraud tells more than the terminal it also went through
        "terminal_labelled": 0.5,
        "terminal_within_delay": 0.5,
    }


def test_the_platform_beats_a_baseline_by_the_wanted_margin_only_in_both_measures():
    def row(week: str, model: str, ap: float, cp: float) -> dict:
        return {"seed": 0, "test_week": week, "model": model, "average_precision": ap,
                "card_precision_at_100": cp}  # fmt: skip

    platform = comparison.PLATFORM
    results = [
        row("w1", platform, 0.70, 0.30), row("w1", "forest", 0.66, 0.29), row("w1", "tree", 0.4, 0.2),
        row("w2", platform, 0.70, 0.30), row("w2", "forest", 0.60, 0.295),
    ]  # fmt: skip
    first, second = comparison.platform_beats_baselines(results, {(0, "w1"): 0.4, (0, "w2"): 0.4})
    assert (first["margin_average_precision"], first["margin_card_precision_at_100"]) == (0.04, 0.01)
    assert first["beats"] and first["by_the_wanted_margin"]
    assert second["beats"] and not second["by_the_wanted_margin"]  # CP@100 ahead by 0.005 only
