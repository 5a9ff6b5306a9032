"""The dashboard's view of the aggregates topic: the latest figure per key, the latest windows kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fraudguard.alerts.live_aggregates import KEEP_WINDOWS, LiveAggregates
from fraudguard.config import load_settings
from tests.conftest import CONFIG_FILE

START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def figure(window: int, rank: int, product: str, count: int, measure: str = "top_products") -> dict:
    start = START + timedelta(seconds=30 * window)
    return {"measure": measure, "window_start": start, "window_end": start + timedelta(seconds=30),
            "rank": rank, "product_id": product, "count": count}  # fmt: skip


def test_the_latest_figure_per_rank_wins_and_only_the_latest_windows_are_kept():
    view = LiveAggregates(load_settings(CONFIG_FILE, environ={}))
    for window in reversed(range(KEEP_WINDOWS + 5)):  # arriving out of order
        view.add(figure(window, 2, "p-2", 1))
        view.add(figure(window, 1, "p-1", 2))
    view.add(figure(KEEP_WINDOWS + 4, 1, "p-3", 5))  # the window's first rank, updated
    view.add(figure(KEEP_WINDOWS + 4, 3, "p-1", 1, measure="alerts"))

    latest = view.latest("top_products", 2)
    assert [w["start"] for w in latest] == [START + timedelta(seconds=30 * w) for w in (123, 124)]
    assert latest[-1]["ranks"] == [
        {"rank": 1, "product_id": "p-3", "count": 5},
        {"rank": 2, "product_id": "p-2", "count": 1},
    ]
    everything = view.latest("top_products", 1000)
    assert len(everything) == KEEP_WINDOWS and everything[0]["start"] == START + timedelta(seconds=150)
    assert len(view.latest("alerts", 10)) == 1 and view.latest("nothing", 10) == []
    assert view.figures.read == 2 * (KEEP_WINDOWS + 5) + 2
