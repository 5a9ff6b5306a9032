"""The handbook's 15 features, built with the platform's own machinery (the shared per-user update with
1/7/30-day windows, the label-delayed window for terminals), so its baselines are reproduced on the
same data and code path as the platform's pipeline.

TX_AMOUNT; weekend; night (hour <= 6); per customer over 1, 7, 30 days (window includes the current
transaction): count and average amount; per terminal, with a 7-day delay, over n = 1, 7, 30 days:
count and risk = frauds / count (0 when there are none). The book's terminal windows are
(t - 7 - n days, t - 7 days] in time; here they are whole hours (H - 24 (7 + n) .. H - 169 for a
transaction in hour H), the platform's hourly risk calendar: at most an hour older than the book's,
never a label from inside the delay.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudguard.features.batch import user_history_features, with_delayed_rates

BOOK_WINDOWS = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
BOOK_DELAY_DAYS = 7
BOOK_FEATURES = (
    "amount",
    "book_is_weekend",
    "book_is_night",
    *(f"customer_{kind}_{w}" for w in BOOK_WINDOWS for kind in ("tx_count", "amount_avg")),
    *(f"terminal_{kind}_{w}" for w in BOOK_WINDOWS for kind in ("tx_count", "risk")),
)


def handbook_features(transactions: DataFrame) -> DataFrame:
    """The 15 book features for every transaction, keyed by transaction_id."""
    customer = user_history_features(transactions, BOOK_WINDOWS).select(
        "transaction_id",
        *(
            F.col(f"{kind}_{w}").alias(f"customer_{kind}_{w}")
            for w in BOOK_WINDOWS
            for kind in ("tx_count", "amount_avg")
        ),
    )
    rows = transactions.withColumns(
        {
            "book_is_weekend": F.dayofweek("timestamp").isin(1, 7).cast("double"),
            "book_is_night": (F.hour("timestamp") <= 6).cast("double"),
        }
    )
    lookbacks = tuple(seconds // 86_400 for seconds in BOOK_WINDOWS.values())
    rows = with_delayed_rates(rows, "merchant_id", BOOK_DELAY_DAYS, lookbacks, "terminal")
    rows = rows.withColumnsRenamed(
        {
            f"terminal_{kind}_{days}d": f"terminal_{name}_{days}d"
            for days in lookbacks
            for kind, name in (("fraud_rate", "risk"), ("labelled_count", "tx_count"))
        }
    )
    return rows.join(customer, "transaction_id")
