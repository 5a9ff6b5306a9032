"""Per-user behavioural state in Spark's state store: the stream's side of `features.user_history`.

`UserHistoryProcessor` runs in `transformWithState`, grouped by user: Spark hands it each user's
transactions of the micro-batch on an executor (as rows: a pandas frame per user would cost twice as
much as the features), it advances the user's `UserState` (kept in the state store, checkpointed with
the query's offsets, so a replayed micro-batch starts from the state before it) and emits the
transactions with their per-user features. A user not seen for `stream.user_state_ttl_days`
(processing time) is forgotten.

A payment paired with its session's events (`session_join`) comes as one row per event: the user's
state advances once per payment, on the micro-batch that first brings it, and its rows go on as one
`PRIMARY` row and `PAIR` rows. A pair that comes after that (an event that arrived late) goes on as
`LATE`: counted, never scored again. The ids of payments that went on stay in the state for
a retention (processing time) longer than the join can still pair them
(`session_join.paired_retention_ms`).

Other rows (dimension records, rejects) pass through unchanged under keys of their own (`ROUTE`), so
the one query carries everything the micro-batch step needs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle

from fraudguard.features.user_history import STORE_IDS, UserState, advance, value_names
from fraudguard.schemas import TRANSACTION
from fraudguard.stream.parse import KIND, PROBLEM

ROUTE, ENVELOPE, FEATURES, STORES, ROLE = "_route", "row_json", "feature_values", "store_ids", "row_role"
"""Column names inside the processor do not start with `_`: Arrow hands those over renamed."""
ENVELOPE_JSON = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "ignoreNullFields": "false"}
"""JSON options under which a row survives `to_json` then `from_json` exactly (microseconds, bytes as
base64, nulls kept)."""
OUTPUT = Row(ENVELOPE, FEATURES, STORES, ROLE)
"""The processor's output row: its copy of the input row, its `value_names` values, its `STORE_IDS` and
its role."""
PRIMARY, PAIR, LATE = "primary", "pair", "late"
"""A transaction's roles: the row that is scored, its other session pairs, pairs that came too late."""
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
        T.StructField("store_ts", T.ArrayType(T.DoubleType())),
        T.StructField("store_merchant_ids", T.ArrayType(T.StringType())),
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
        state.store_ts.tolist(),
        state.store_merchant_ids.tolist(),
    )


def from_row(row: tuple) -> UserState:
    (history_ts, history_amount, count, amount_total, last_ts, ips, first, last, store_ts, store_ids) = row
    return UserState(
        history_ts=np.asarray(history_ts, dtype=float),
        history_amount=np.asarray(history_amount, dtype=float),
        count=int(count),
        amount_total=float(amount_total),
        last_ts=last_ts,
        devices={ip: (a, b) for ip, a, b in zip(ips, first, last, strict=True)},
        store_ts=np.asarray(store_ts, dtype=float),
        store_merchant_ids=np.asarray(store_ids, dtype=object),
    )


PAIRED_SCHEMA = T.StructType(
    [T.StructField("ids", T.ArrayType(T.StringType())), T.StructField("at_ms", T.ArrayType(T.LongType()))]
)
"""The user's payments with a session that went on, and when (processing time)."""


class UserHistoryProcessor(StatefulProcessor):
    """Advances each user's state over their transactions of the micro-batch (event-time order)."""

    def __init__(self, ttl_ms: int, paired_retention_ms: int) -> None:
        self.ttl_ms, self.paired_retention_ms = ttl_ms, paired_retention_ms

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("user", STATE_SCHEMA, self.ttl_ms)
        self.paired = handle.getValueState("paired", PAIRED_SCHEMA, self.paired_retention_ms)

    def handleInputRows(self, key, rows: Iterator[Row], timerValues) -> Iterator[Row]:
        # Called once per user and micro-batch, where each column in or out costs more than the
        # features themselves: the row travels packed (`ENVELOPE`), the features as one array.
        rows_in = list(rows)
        if str(key[0]).startswith(PASS_THROUGH):
            for row in rows_in:
                yield OUTPUT(row[ENVELOPE], None, None, None)
            return
        went_on = self._went_on(rows_in, timerValues.getCurrentProcessingTimeInMs())
        first: dict[str, Row] = {}
        for row in rows_in:
            if row.transaction_id in went_on:
                yield OUTPUT(row[ENVELOPE], None, None, LATE)
            else:
                first.setdefault(row.transaction_id, row)
        batch = sorted(first.values(), key=lambda row: (row.ts, row.transaction_id))
        if not batch:
            return
        saved = self.state.get()  # None for a user not seen (or forgotten): one call to the store
        state = from_row(saved) if saved is not None else UserState()
        values, store_ids, state = advance(
            state,
            np.fromiter((row.ts for row in batch), dtype=float, count=len(batch)),
            np.fromiter((row.amount for row in batch), dtype=float, count=len(batch)),
            np.array([row.device_ip for row in batch], dtype=object),
            np.fromiter((row.in_store for row in batch), dtype=bool, count=len(batch)),
            np.array([row.merchant_id for row in batch], dtype=object),
        )
        self.state.update(to_row(state))
        features = np.column_stack([values[name] for name in value_names()]).tolist()
        stores = np.column_stack(store_ids).tolist()
        order = {row.transaction_id: i for i, row in enumerate(batch)}
        for row in rows_in:
            if row.transaction_id in went_on:
                continue
            i = order[row.transaction_id]
            role = PRIMARY if first[row.transaction_id] is row else PAIR
            yield OUTPUT(row[ENVELOPE], features[i], stores[i], role)

    def _went_on(self, rows: list[Row], now_ms: int) -> set[str]:
        """The payments with a session that went on in an earlier micro-batch; records this batch's."""
        if not any(row.session_id is not None for row in rows):
            return set()
        saved = self.paired.get()
        kept = {
            i: at
            for i, at in (zip(saved[0], saved[1], strict=True) if saved else ())
            if at >= now_ms - self.paired_retention_ms
        }
        went_on = set(kept)
        for row in rows:
            if row.session_id is not None:
                kept.setdefault(row.transaction_id, now_ms)
        self.paired.update((list(kept), list(kept.values())))
        return went_on

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


def with_user_history(rows: DataFrame, ttl_ms: int, paired_retention_ms: int) -> DataFrame:
    """`rows` (from `parse.parse_inputs`, transactions paired by `session_join`) plus the per-user
    values (`value_names`), `STORE_IDS` and `ROLE`, computed in the state store (null for rows that are
    not valid transactions).

    Each row crosses into Python as its `advance` inputs and an exact JSON copy of itself, and comes
    back as that copy, its values in one array and its stores in another; Spark unpacks them."""
    inputs = rows.select(
        route(rows).alias(ROUTE),
        F.to_json(F.struct(*rows.columns), ENVELOPE_JSON).alias(ENVELOPE),
        "transaction_id",
        F.col("timestamp").cast("double").alias("ts"),  # as `features.batch` computes it
        "amount",
        "device_ip",
        (F.col("channel") == "in_store").alias("in_store"),
        "merchant_id",
        "session_id",
    )
    schema = T.StructType(
        [
            T.StructField(ENVELOPE, T.StringType()),
            T.StructField(FEATURES, T.ArrayType(T.DoubleType())),
            T.StructField(STORES, T.ArrayType(T.StringType())),
            T.StructField(ROLE, T.StringType()),
        ]
    )
    advanced = inputs.groupBy(ROUTE).transformWithState(
        UserHistoryProcessor(ttl_ms, paired_retention_ms), schema, "Append", "ProcessingTime"
    )
    value, store = F.col(FEATURES), F.col(STORES)
    return advanced.select(
        F.from_json(ENVELOPE, rows.schema, ENVELOPE_JSON).alias("_row"), FEATURES, STORES, ROLE
    ).select(
        "_row.*",
        *(F.nanvl(value[i], F.lit(None)).alias(name) for i, name in enumerate(value_names())),
        *(store[i].alias(name) for i, name in enumerate(STORE_IDS)),
        ROLE,
    )


STATE_SERVER_LOGGER = "org.apache.spark.sql.execution.python.streaming.TransformWithStateInPySparkStateServer"


def quiet_state_server(spark: SparkSession) -> None:
    """Spark's state server logs a warning whenever a state is read that was never written, i.e. for
    every user the job has not seen yet; the job's log would be mostly that line. Its errors still
    show. This sets the level in the driver's JVM, where local tasks run; on a cluster the executors'
    log configuration decides."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    level = jvm.org.apache.logging.log4j.Level.ERROR
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(STATE_SERVER_LOGGER, level)
