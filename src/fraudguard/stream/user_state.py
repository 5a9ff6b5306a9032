"""Per-user behavioural features in the stream: `features.user_history.update` inside Spark's
applyInPandasWithState, with the user's `UserState` kept in Spark's state store (checkpointed with the
query's offsets, so a restarted query resumes with exactly the state of its last committed batch).

applyInPandasWithState rather than transformWithStateInPandas: its state travels with the rows in the
Arrow batches (no per-key calls to a state server). Run the query with
`spark.sql.streaming.noDataMicroBatches.enabled=false` (`SESSION_CONF`): with a processing-time timeout
Spark otherwise keeps running empty batches, and a Trigger.AvailableNow query never ends (measured:
hundreds of empty batches in 5 minutes).

Rows are grouped by `user_id`; each micro-batch hands a user's new transactions to `update` with the
state left by the previous batches. Because `update` gives the same values however the rows are split
into batches (unit-tested), the stream's features equal the batch features of the same transactions
when each user's transactions arrive in event-time order (they do: transactions are keyed by user, so
one user's stay in one Kafka partition, in order). A transaction older than the user's last one is
still scored, with features computed as if it came last (documented limitation).

State expires after `STATE_TIMEOUT_MS` of processing time without a transaction: longer than the
longest window, so expiry changes no windowed value, only the all-time average and the device memory
of users idle for that long.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout
from pyspark.sql.types import StructType

from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, UserState, feature_names, update

PASS_THROUGH = ""
"""The group key of rows that only pass through."""
STATE_TIMEOUT_MS = 60 * 86_400 * 1000
SESSION_CONF = {"spark.sql.streaming.noDataMicroBatches.enabled": "false"}  # see the module docstring
STATE_SCHEMA = "user_state binary"  # JSON of a UserState (structured state types do not round-trip here)
INPUT_COLUMNS = ("transaction_id", "user_id", "ts", "amount", "device_ip", "in_store", "merchant_id")
"""What the processor reads from each transaction; every other input column is passed through."""


def output_schema(input_schema: StructType) -> StructType:
    """The input columns followed by the per-user features and the previous in-store merchant."""
    schema = StructType(list(input_schema.fields))
    for name in feature_names(WINDOWS):
        schema = schema.add(name, "double")
    return schema.add(PREVIOUS_STORE, "string")


def state_to_json(state: UserState) -> bytes:
    return json.dumps(
        {
            "history_ts": state.history_ts.tolist(),
            "history_amount": state.history_amount.tolist(),
            "count": state.count,
            "amount_total": state.amount_total,
            "last_ts": state.last_ts,
            "devices": state.devices,
            "store_ts": state.store_ts,
            "store_merchant_id": state.store_merchant_id,
        }
    ).encode()


def state_from_json(payload: bytes) -> UserState:
    saved = json.loads(payload)
    return UserState(
        history_ts=np.asarray(saved["history_ts"], dtype=float),
        history_amount=np.asarray(saved["history_amount"], dtype=float),
        count=saved["count"],
        amount_total=saved["amount_total"],
        last_ts=saved["last_ts"],
        devices={ip: tuple(seen) for ip, seen in saved["devices"].items()},
        store_ts=saved["store_ts"],
        store_merchant_id=saved["store_merchant_id"],
    )


def with_user_history(transactions: DataFrame, key: str = "user_id") -> DataFrame:
    """A streaming DataFrame of transactions (with the `INPUT_COLUMNS`) plus the per-user features.
    Rows are grouped by `key`; rows whose key is `PASS_THROUGH` keep null features and touch no
    state (the job sends its dimension records and rejected messages through this way)."""
    return transactions.groupBy(key).applyInPandasWithState(
        _advance,
        output_schema(transactions.schema),
        STATE_SCHEMA,
        "append",
        GroupStateTimeout.ProcessingTimeTimeout,
    )


def _advance(key: tuple[str], rows: Iterator[pd.DataFrame], group: GroupState) -> Iterator[pd.DataFrame]:
    """One user's new transactions in this micro-batch: their features, and the state moves on."""
    if group.hasTimedOut:
        group.remove()
        return
    batch = pd.concat(list(rows), ignore_index=True)
    if key[0] == PASS_THROUGH:
        yield batch.assign(**dict.fromkeys(feature_names(WINDOWS), np.nan), **{PREVIOUS_STORE: None})
        return
    batch = batch.sort_values(["ts", "transaction_id"], kind="stable", ignore_index=True)
    state = state_from_json(group.get[0]) if group.exists else UserState()
    features, state = update(state, batch[list(INPUT_COLUMNS)])
    group.update((state_to_json(state),))
    group.setTimeoutDuration(STATE_TIMEOUT_MS)
    yield pd.concat([batch, features], axis=1)
