"""Per-user behavioural state in Spark's state store: the stream's side of `features.user_history`.

`UserHistoryProcessor` runs in `transformWithState`, grouped by user: Spark hands it each user's
transactions of the micro-batch on an executor (as rows: a pandas frame per user would cost twice as
much as the features), it advances the user's `UserState` (kept in the state store, checkpointed with
the query's offsets, so a replayed micro-batch starts from the state before it) and emits the
transactions with their per-user features. A user not seen for `stream.user_state_ttl_days`
(processing time) is forgotten.

Other rows (dimension records, rejects) pass through unchanged under keys of their own (`ROUTE`), so
the one query carries everything the micro-batch step needs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle

from fraudguard.features.user_history import PREVIOUS_STORE, UserState, advance, feature_names
from fraudguard.schemas import TRANSACTION
from fraudguard.stream.parse import KIND, PROBLEM

ROUTE, ENVELOPE, FEATURES = "_route", "row_json", "feature_values"
"""Column names inside the processor do not start with `_`: Arrow hands those over renamed."""
ENVELOPE_JSON = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "ignoreNullFields": "false"}
"""JSON options under which a row survives `to_json` then `from_json` exactly (microseconds, bytes as
base64, nulls kept)."""
OUTPUT = Row(ENVELOPE, FEATURES, PREVIOUS_STORE)
"""The processor's output row: its copy of the input row, its features and `PREVIOUS_STORE`."""
PASS_THROUGH, USER_ROUTE = "~", "u:"
"""Prefixes of the routes of rows that are not valid transactions (no user state is kept for them)
and of users."""

STATE_SCHEMA = T.StructType(
    [
        T.StructField("history_ts", T.ArrayType(T.DoubleType())),
        T.StructField("history_amount", T.ArrayType(T.DoubleType())),
        T.StructField("count", T.LongType()),
        T.StructField("amount_total", T.DoubleType()),
        T.StructField("last_ts", T.DoubleType()),
        T.StructField("device_ips", T.ArrayType(T.StringType())),
        T.StructField("device_first", T.ArrayType(T.DoubleType())),
        T.StructField("device_last", T.ArrayType(T.DoubleType())),
        T.StructField("store_ts", T.DoubleType()),
        T.StructField("store_merchant_id", T.StringType()),
    ]
)


def to_row(state: UserState) -> tuple:
    devices = list(state.devices.items())
    return (
        state.history_ts.tolist(),
        state.history_amount.tolist(),
        state.count,
        state.amount_total,
        state.last_ts,
        [device for device, _ in devices],
        [first for _, (first, _) in devices],
        [last for _, (_, last) in devices],
        state.store_ts,
        state.store_merchant_id,
    )


def from_row(row: tuple) -> UserState:
    (history_ts, history_amount, count, amount_total, last_ts, ips, first, last, store_ts, store_id) = row
    return UserState(
        history_ts=np.asarray(history_ts, dtype=float),
        history_amount=np.asarray(history_amount, dtype=float),
        count=int(count),
        amount_total=float(amount_total),
        last_ts=last_ts,
        devices={ip: (a, b) for ip, a, b in zip(ips, first, last, strict=True)},
        store_ts=store_ts,
        store_merchant_id=store_id,
    )


class UserHistoryProcessor(StatefulProcessor):
    """Advances each user's state over their transactions of the micro-batch (event-time order)."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("user", STATE_SCHEMA, self.ttl_ms)

    def handleInputRows(self, key, rows: Iterator[Row], timerValues) -> Iterator[Row]:
        # Called once per user and micro-batch, where each column in or out costs more than the
        # features themselves: the row travels packed (`ENVELOPE`), the features as one array.
        batch = list(rows)
        if str(key[0]).startswith(PASS_THROUGH):
            for row in batch:
                yield OUTPUT(row[ENVELOPE], None, None)
            return
        batch.sort(key=lambda row: (row.ts, row.transaction_id))
        saved = self.state.get()  # None for a user not seen (or forgotten): one call to the store
        state = from_row(saved) if saved is not None else UserState()
        values, previous_store, state = advance(
            state,
            np.fromiter((row.ts for row in batch), dtype=float, count=len(batch)),
            np.fromiter((row.amount for row in batch), dtype=float, count=len(batch)),
            np.array([row.device_ip for row in batch], dtype=object),
            np.fromiter((row.in_store for row in batch), dtype=bool, count=len(batch)),
            np.array([row.merchant_id for row in batch], dtype=object),
        )
        self.state.update(to_row(state))
        features = np.column_stack([values[name] for name in feature_names()]).tolist()
        for row, values_of_row, store in zip(batch, features, previous_store, strict=True):
            yield OUTPUT(row[ENVELOPE], values_of_row, store)

    def close(self) -> None:
        pass


def route(rows: DataFrame) -> Column:
    """The grouping key: the user of a valid transaction (prefixed, so no user id can look like a
    pass-through key); for other rows one key per kind and Kafka partition, so they cost a handful of
    calls and no state."""
    is_transaction = (F.col(KIND) == TRANSACTION.name) & F.col(PROBLEM).isNull()
    other = F.concat(F.lit(PASS_THROUGH), F.coalesce(F.col(KIND), F.lit("unknown")), F.lit(":"),
                     F.col("partition").cast("string"))  # fmt: skip
    return F.when(is_transaction, F.concat(F.lit(USER_ROUTE), F.col("user_id"))).otherwise(other)


def with_user_history(rows: DataFrame, ttl_ms: int) -> DataFrame:
    """`rows` (from `parse.parse_inputs`) plus the per-user features and `PREVIOUS_STORE`, computed in
    the state store (null for rows that are not valid transactions).

    Each row crosses into Python as its `advance` inputs and an exact JSON copy of itself, and comes
    back as that copy, its features in one array and `PREVIOUS_STORE`; Spark unpacks them."""
    inputs = rows.select(
        route(rows).alias(ROUTE),
        F.to_json(F.struct(*rows.columns), ENVELOPE_JSON).alias(ENVELOPE),
        "transaction_id",
        F.col("timestamp").cast("double").alias("ts"),  # as `features.batch` computes it
        "amount",
        "device_ip",
        (F.col("channel") == "in_store").alias("in_store"),
        "merchant_id",
    )
    schema = T.StructType(
        [
            T.StructField(ENVELOPE, T.StringType()),
            T.StructField(FEATURES, T.ArrayType(T.DoubleType())),
            T.StructField(PREVIOUS_STORE, T.StringType()),
        ]
    )
    advanced = inputs.groupBy(ROUTE).transformWithState(
        UserHistoryProcessor(ttl_ms), schema, "Append", "ProcessingTime"
    )
    value = F.col(FEATURES)
    return advanced.select(
        F.from_json(ENVELOPE, rows.schema, ENVELOPE_JSON).alias("_row"), FEATURES, PREVIOUS_STORE
    ).select(
        "_row.*",
        *(F.nanvl(value[i], F.lit(None)).alias(name) for i, name in enumerate(feature_names())),
        PREVIOUS_STORE,
    )
