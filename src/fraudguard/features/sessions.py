"""Session features: what an online payment's browsing session did before it.

`session_features` reads rows that pair each transaction with every event of its session in reach
(`in_reach`: not after the payment, not older than `SESSION_LOOKBACK_S`, and not the payment's own
checkout), or with nulls when it has none. Training makes them with a batch join
(`with_session_features`); a stream that pairs the same rows, by a join bounded by the same
`SESSION_LOOKBACK_S`, gets the same features from the same function.

A payment without a session (in store) or whose session left no event in reach has every session
feature null: the model's missing-value path, never a zero that would read as "a bot that viewed
nothing".
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SESSION_LOOKBACK_S = 4 * 3600
"""How far back a payment's session events count: longer than any session (sessions close after 30
minutes without activity; a sign-up session lasts up to 3 hours)."""

SESSION_FEATURES = (
    "session_seconds",
    "session_events",
    "session_product_views",
    "session_events_per_minute",
    "session_checkouts_before",
    "session_credential_change",
    "session_signup",
)

EVENT_TIME, EVENT_TYPE, EVENT_PAYMENT = "event_time", "event_type", "event_transaction_id"
"""An event's columns in a pair (the event's own `transaction_id` renamed)."""


def in_reach(payment_time: Column, payment_id: Column, event_time: Column, event_payment: Column) -> Column:
    """Whether an event of the payment's session counts for it."""
    return (
        (event_time <= payment_time)
        & (event_time >= payment_time - F.expr(f"INTERVAL {SESSION_LOOKBACK_S} SECONDS"))
        & (event_payment.isNull() | (event_payment != payment_id))
    )


def session_features(pairs: DataFrame) -> DataFrame:
    """`transaction_id` and the session features, from rows `transaction_id, timestamp` + an event
    (`EVENT_TIME`, `EVENT_TYPE`; null when none is in reach)."""
    events = F.count(EVENT_TIME)

    def count(*kinds: str) -> Column:
        return F.count(F.when(F.col(EVENT_TYPE).isin(*kinds), True))

    grouped = pairs.groupBy("transaction_id").agg(
        (F.max("timestamp").cast("double") - F.min(EVENT_TIME).cast("double")).alias("session_seconds"),
        events.cast("double").alias("session_events"),
        count("product_view").cast("double").alias("session_product_views"),
        count("checkout").cast("double").alias("session_checkouts_before"),
        F.least(count("address_change", "password_change"), F.lit(1))
        .cast("double")
        .alias("session_credential_change"),
        F.least(count("signup"), F.lit(1)).cast("double").alias("session_signup"),
        events.alias("_events"),
    )
    known = F.col("_events") > 0
    per_minute = F.col("session_events") / F.greatest(F.col("session_seconds") / 60.0, F.lit(1 / 60.0))
    return grouped.select(
        "transaction_id",
        *(
            F.when(known, per_minute if name == "session_events_per_minute" else F.col(name)).alias(name)
            for name in SESSION_FEATURES
        ),
    )


def with_session_features(transactions: DataFrame, events: DataFrame) -> DataFrame:
    """The transactions with their session features, from `events` (`SESSION_EVENT` rows)."""
    payments = transactions.where(F.col("session_id").isNotNull()).select(
        "transaction_id", "session_id", "timestamp"
    )
    browsing = events.select(
        F.col("session_id").alias("_session"),
        F.col("event_time").alias(EVENT_TIME),
        F.col("event_type").alias(EVENT_TYPE),
        F.col("transaction_id").alias(EVENT_PAYMENT),
    )
    pairs = payments.join(
        browsing,
        (F.col("session_id") == F.col("_session"))
        & in_reach(F.col("timestamp"), F.col("transaction_id"), F.col(EVENT_TIME), F.col(EVENT_PAYMENT)),
        "left",
    )
    return transactions.join(session_features(pairs), "transaction_id", "left")
