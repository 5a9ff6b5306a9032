"""Per-user behavioural features in the stream: `features.user_history.update` inside Spark's
transformWithStateInPandas, with the user's `UserState` kept in Spark's state store (checkpointed with
the query's offsets, so a restarted query resumes with exactly the state of its last committed batch).

Rows are grouped by `user_id`; each micro-batch hands a user's new transactions to `update` with the
state left by the previous batches. Because `update` gives the same values however the rows are split
into batches (unit-tested), the stream's features equal the batch features of the same transactions
when each user's transactions arrive in event-time order (they do: transactions are keyed by user, so
one user's stay in one Kafka partition, in order). A transaction older than the user's last one is
still scored, with features computed as if it came last (documented limitation).

State expires after `STATE_TTL_MS` without a transaction (longer than the longest window, so expiry
never changes a feature value except the all-time average and device memory of long-idle users).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle, TimerValues
from pyspark.sql.types import StructType

from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, UserState, feature_names, update

STATE_TTL_MS = 60 * 86_400 * 1000
TIME_MODE = "ProcessingTime"  # state TTL is measured in processing time
STATE_SCHEMA = (
    "history_ts array<double>, history_amount array<double>, count long, amount_total double, "
    "last_ts double, device_ips array<string>, device_first array<double>, device_last array<double>, "
    "store_ts double, store_merchant_id string"
)
INPUT_COLUMNS = ("transaction_id", "user_id", "ts", "amount", "device_ip", "in_store", "merchant_id")
"""What the processor reads from each transaction; every other input column is passed through."""


def output_schema(input_schema: StructType) -> StructType:
    """The input columns followed by the per-user features and the previous in-store merchant."""
    schema = StructType(list(input_schema.fields))
    for name in feature_names(WINDOWS):
        schema = schema.add(name, "double")
    return schema.add(PREVIOUS_STORE, "string")


def state_to_row(state: UserState) -> tuple[Any, ...]:
    devices = list(state.devices.items())
    return (
        state.history_ts.tolist(),
        state.history_amount.tolist(),
        state.count,
        state.amount_total,
        state.last_ts,
        [ip for ip, _ in devices],
        [seen[0] for _, seen in devices],
        [seen[1] for _, seen in devices],
        state.store_ts,
        state.store_merchant_id,
    )


def state_from_row(row: tuple[Any, ...]) -> UserState:
    (history_ts, history_amount, count, amount_total, last_ts, ips, first, last, store_ts, store) = row
    return UserState(
        history_ts=np.asarray(history_ts, dtype=float),
        history_amount=np.asarray(history_amount, dtype=float),
        count=int(count),
        amount_total=float(amount_total),
        last_ts=last_ts,
        devices={ip: (f, s) for ip, f, s in zip(ips, first, last, strict=True)},
        store_ts=store_ts,
        store_merchant_id=store,
    )


class UserHistoryProcessor(StatefulProcessor):
    """Group by user_id: each group's new transactions get their features, the state moves on."""

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.state = handle.getValueState("user_history", STATE_SCHEMA, STATE_TTL_MS)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(rows), ignore_index=True)
        batch = batch.sort_values(["ts", "transaction_id"], kind="stable", ignore_index=True)
        state = state_from_row(self.state.get()) if self.state.exists() else UserState()
        features, state = update(state, batch[list(INPUT_COLUMNS)])
        self.state.update(state_to_row(state))
        yield pd.concat([batch, features], axis=1)

    def close(self) -> None:
        pass
