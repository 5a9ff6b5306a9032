"""The handbook's 15 features, built with the platform's own machinery (the shared per-user update with
1/7/30-day windows, the label-delayed window for terminals), so its baselines are reproduced on the
same data and code path as the platform's pipeline.

TX_AMOUNT; weekend; night (hour <= 6); per customer over 1, 7, 30 days (window includes the current
transaction): count and average amount; per terminal over (t - 7 - n days, t - 7 days] for n = 1, 7,
30: count and risk = frauds / count (0 when there are none).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudguard.features.batch import delayed_fraud_rate, user_history_features

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
    inputs = transactions.withColumns(
        {"merchant_lat": F.lit(0.0), "merchant_lon": F.lit(0.0)}  # not used by the book's features
    )
    customer = user_history_features(inputs, BOOK_WINDOWS).select(
        "transaction_id",
        *(
            F.col(f"{kind}_{w}").alias(f"customer_{kind}_{w}")
            for w in BOOK_WINDOWS
            for kind in ("tx_count", "amount_avg")
        ),
    )
    terminal = {}
    for name, seconds in BOOK_WINDOWS.items():
        risk, count = delayed_fraud_rate(F.col("merchant_id"), BOOK_DELAY_DAYS, seconds // 86_400)
        terminal[f"terminal_tx_count_{name}"] = count
        terminal[f"terminal_risk_{name}"] = risk
    hour = F.hour("timestamp")
    rows = transactions.withColumns(
        {
            "book_is_weekend": F.dayofweek("timestamp").isin(1, 7).cast("double"),
            "book_is_night": (hour <= 6).cast("double"),
            **terminal,
        }
    )
    return rows.join(customer, "transaction_id")
