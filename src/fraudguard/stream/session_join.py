"""Online payments paired with their browsing session's events: Spark's stream-stream join.

    transactions ─┬─ valid, with a session id ─ left outer join by session ─ sessions topic (valid)
                  └─ the rest ─────────────────────────────────────────────┐
    → a row per (payment, event of its session), a payment without events, every other row as it was

Both sides are stamped with the time they reached the job (`ARRIVED`, their micro-batch's time) and
watermarked on it, so nothing is ever dropped as too old: a payment pairs with each event that arrived
at most `SESSION_LOOKBACK_S` before it or `stream.session_wait_s` after it. Events are produced before
their payment, so a payment usually pairs in its own micro-batch; one without any event waits up to
`session_wait_s` for them (Spark's state store holds it), then goes on alone. An event that arrives
after its payment went on pairs too: the per-user step (`user_state`) counts such a pair as late and
never scores the payment twice.

Whether an event counts for the payment (`features.sessions.in_reach`) is decided on the pairs, by
the function training uses; an event out of reach leaves its pair's event columns null.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudguard.features.sessions import EVENT_PAYMENT, EVENT_TIME, EVENT_TYPE, SESSION_LOOKBACK_S, in_reach
from fraudguard.schemas import SESSION_EVENT, TRANSACTION
from fraudguard.stream.parse import KIND, PROBLEM, parse_topic

ARRIVED = "arrived"
LATE_PAIR_MARGIN_S = 3600
"""How long after its wait a payment stays known as scored (`user_state`): the watermark that ends the
wait lags a micro-batch, and a micro-batch working through a backlog may take minutes."""
PAIR_COLUMNS = (EVENT_TIME, EVENT_TYPE)
"""What a row carries of its paired event (null for rows without one)."""
BOUGHT = "bought_product_id"
"""The product of the payment's own checkout, on the row paired with that event (else null)."""


def arrived(frame: DataFrame) -> DataFrame:
    """`frame` stamped and watermarked with its arrival (the micro-batch's time, never late)."""
    return frame.withColumn(ARRIVED, F.current_timestamp()).withWatermark(ARRIVED, "0 seconds")


def with_session_events(transactions: DataFrame, sessions: DataFrame, wait_s: float) -> DataFrame:
    """`transactions` (`parse.parse_topic` rows) with `PAIR_COLUMNS` and `BOUGHT`: each valid payment
    with a session id once per event of its session (`sessions`: the sessions topic's Kafka rows), the
    others once."""
    transactions = arrived(transactions)
    paying = (
        (F.col(KIND) == TRANSACTION.name) & F.col(PROBLEM).isNull() & (_join_key(F.col("session_id")) != "")
    )
    valid = parse_topic(sessions, SESSION_EVENT, scored=SESSION_EVENT).where(F.col(PROBLEM).isNull())
    events = arrived(valid).select(
        _join_key(F.col("session_id")).alias("_session"),
        F.col("event_time").alias(EVENT_TIME),
        F.col("event_type").alias(EVENT_TYPE),
        F.col("transaction_id").alias(EVENT_PAYMENT),
        F.col("product_id").alias("_event_product"),
        F.col(ARRIVED).alias("_event_arrived"),
    )
    payment_arrived = F.col(ARRIVED)
    joined = transactions.where(paying).join(
        events,
        (_join_key(F.col("session_id")) == F.col("_session"))
        & F.col("_event_arrived").between(
            payment_arrived - F.expr(f"INTERVAL {SESSION_LOOKBACK_S} SECONDS"),
            payment_arrived + F.expr(f"INTERVAL {int(wait_s * 1000)} MILLISECONDS"),
        ),
        "leftOuter",
    )
    reach = in_reach(F.col("timestamp"), F.col("transaction_id"), F.col(EVENT_TIME), F.col(EVENT_PAYMENT))
    columns = [c for c in transactions.columns if c != ARRIVED]
    pairs = joined.select(
        *columns,
        *(F.when(reach, F.col(name)).alias(name) for name in PAIR_COLUMNS),
        F.when(F.col(EVENT_PAYMENT) == F.col("transaction_id"), F.col("_event_product")).alias(BOUGHT),
    )
    alone = transactions.where(~paying).select(
        *columns,
        F.lit(None).cast("timestamp").alias(EVENT_TIME),
        F.lit(None).cast("string").alias(EVENT_TYPE),
        F.lit(None).cast("string").alias(BOUGHT),
    )
    return pairs.unionByName(alone)


def _join_key(session_id: Column) -> Column:
    """The session id as a join key (and filter) from which Spark infers nothing about `session_id`
    itself: its nullability would otherwise differ between micro-batches with and without data, and
    the join's state schema with it."""
    return F.coalesce(session_id, F.lit(""))


def paired_retention_ms(wait_s: float) -> int:
    return int((wait_s + LATE_PAIR_MARGIN_S) * 1000)


def session_rejects(sessions: DataFrame) -> DataFrame:
    """The sessions topic's malformed messages (`parse.parse_topic` rows), for the dead-letter topic."""
    return parse_topic(sessions, SESSION_EVENT).where(F.col(PROBLEM).isNotNull())
