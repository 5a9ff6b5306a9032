"""Per-user behavioural features in the stream: `features.user_history.advance` (the core of the
`update` training replays) inside Spark's transformWithStateInPandas, each user's `UserState` a map
entry in Spark's RocksDB state store (checkpointed with the query's offsets, so a restarted query
resumes with exactly the state of its last committed batch).

Users are grouped into `BUCKETS` groups (a hash of the user id) and a group's users are processed in
one call: one call per user costs ~2 ms of pandas and Spark overhead, more than the features (measured:
applyInPandasWithState keyed by user spent ~14 s on a 20,000-transaction micro-batch, this ~4 s). The
state stays per user (a map entry), so a micro-batch reads and writes only the users it saw.

Because `advance` gives the same values however a user's transactions are split into batches
(unit-tested), the stream's features equal the batch features of the same transactions when each
user's transactions arrive in event-time order (they do: transactions are keyed by user, so one user's
stay in one Kafka partition, in order). A transaction older than the user's last one is still scored,
with features computed as if it came last (documented limitation).

A user's state expires `STATE_TTL_MS` (processing time) after their last transaction: longer than the
longest window, so expiry changes no windowed value, only the all-time average and the device memory
of users idle for that long. Run the query with `SESSION_CONF` (the RocksDB provider, which
transformWithState needs; no empty micro-batches, which an AvailableNow query would never stop running).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming.stateful_processor import StatefulProcessor, StatefulProcessorHandle
from pyspark.sql.types import StructType

from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, UserState, advance, feature_names

PASS_THROUGH = ""
"""The key of rows that only pass through."""
BUCKETS = 16
"""Users are processed in this many groups: it bounds the parallelism of this step, and each group
costs a few ms per micro-batch. Part of the state's key: changing it needs a new checkpoint."""
STATE_TTL_MS = 60 * 86_400 * 1000
SESSION_CONF = {
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    # A commit uploads the changed entries, not a snapshot of the store.
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
}  # fmt: skip
_BUCKET = "_user_bucket"
_PASS_THROUGH_BUCKET = -1
_QUIET_LOGGER = "org.apache.spark.sql.execution.python.streaming.TransformWithStateInPySparkStateServer"


def output_schema(input_schema: StructType) -> StructType:
    """The input columns followed by the per-user features and the previous in-store merchant."""
    schema = StructType(list(input_schema.fields))
    for name in feature_names(WINDOWS):
        schema = schema.add(name, "double")
    return schema.add(PREVIOUS_STORE, "string")


def encode_state(state: UserState) -> bytes:
    """A compact, language-neutral state value: a JSON header, then the history as float64 arrays."""
    header = json.dumps(
        {
            "count": state.count,
            "amount_total": state.amount_total,
            "last_ts": state.last_ts,
            "devices": state.devices,
            "store_ts": state.store_ts,
            "store_merchant_id": state.store_merchant_id,
        }
    ).encode()
    history = np.concatenate([state.history_ts, state.history_amount]).astype("<f8").tobytes()
    return struct.pack("<I", len(header)) + header + history


def decode_state(payload: bytes) -> UserState:
    (size,) = struct.unpack_from("<I", payload)
    saved = json.loads(payload[4 : 4 + size])
    history = np.frombuffer(payload, dtype="<f8", offset=4 + size)
    half = len(history) // 2
    return UserState(
        history_ts=history[:half],
        history_amount=history[half:],
        count=saved["count"],
        amount_total=saved["amount_total"],
        last_ts=saved["last_ts"],
        devices={ip: tuple(seen) for ip, seen in saved["devices"].items()},
        store_ts=saved["store_ts"],
        store_merchant_id=saved["store_merchant_id"],
    )


def with_user_history(transactions: DataFrame, key: str = "user_id") -> DataFrame:
    """A streaming DataFrame of transactions (with `ts`, `amount`, `device_ip`, `in_store`,
    `merchant_id` and the user in column `key`) plus the per-user features. Rows whose key is
    `PASS_THROUGH` keep null features and touch no state (the job sends its dimension records and
    rejected messages through this way). Run the query with `SESSION_CONF`."""
    bucket = F.when(F.col(key) == PASS_THROUGH, F.lit(_PASS_THROUGH_BUCKET)).otherwise(
        F.pmod(F.hash(key), F.lit(BUCKETS))
    )
    output = output_schema(transactions.schema)
    _quiet_missing_key_warnings(transactions)
    return (
        transactions.withColumn(_BUCKET, bucket)
        .groupBy(_BUCKET)
        .transformWithStateInPandas(UserHistory(key, output), output, "append", "ProcessingTime")
    )


class UserHistory(StatefulProcessor):
    """One group of users per call: each user's new transactions advance their state (a map entry
    per user, so a micro-batch writes only the users it saw)."""

    def __init__(self, key: str, output: StructType) -> None:
        self.key = key
        self.text = [field.name for field in output.fields if field.dataType.typeName() == "string"]

    def init(self, handle: StatefulProcessorHandle) -> None:
        self.states = handle.getMapState("users", "user_id string", "state binary", STATE_TTL_MS)

    def handleInputRows(self, key, rows: Iterator[pd.DataFrame], timerValues) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(rows), ignore_index=True)
        names = feature_names(WINDOWS)
        if key[0] == _PASS_THROUGH_BUCKET:
            yield _plain(batch.assign(**dict.fromkeys(names, np.nan), **{PREVIOUS_STORE: None}), self.text)
            return
        batch = batch.sort_values([self.key, "ts", "transaction_id"], kind="stable", ignore_index=True)
        users = batch[self.key].to_numpy(dtype=object)
        ts, amount = batch["ts"].to_numpy(dtype=float), batch["amount"].to_numpy(dtype=float)
        devices = batch["device_ip"].to_numpy(dtype=object)
        merchants = batch["merchant_id"].to_numpy(dtype=object)
        in_store = batch["in_store"].to_numpy(dtype=bool)
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        features = {name: np.empty(len(batch)) for name in names}
        previous_store = np.empty(len(batch), dtype=object)
        for low, high in zip(starts, [*starts[1:], len(batch)], strict=True):
            saved = self.states.getValue((users[low],))
            state = decode_state(saved[0]) if saved else UserState()
            values, previous_store[low:high], state = advance(
                state, ts[low:high], amount[low:high], devices[low:high], in_store[low:high],
                merchants[low:high],
            )  # fmt: skip
            for name in names:
                features[name][low:high] = values[name]
            self.states.updateValue((users[low],), (encode_state(state),))
        yield _plain(batch.assign(**features, **{PREVIOUS_STORE: previous_store}), self.text)


def _plain(frame: pd.DataFrame, text: list[str]) -> pd.DataFrame:
    """The `text` columns as Python objects with None for missing: Spark 4.3 fails to convert this
    operator's output from pandas 3's Arrow-backed `str` columns and from all-null columns (they
    arrive as float NaN)."""
    objects = {name: frame[name].astype(object) for name in text}
    return frame.assign(**{name: column.where(column.notna(), None) for name, column in objects.items()})


def _quiet_missing_key_warnings(frame: DataFrame) -> None:
    """The state server logs a warning for every first-seen user (a map lookup that misses): normal
    here, and thousands per micro-batch. Silenced in this JVM (the driver's, i.e. local mode)."""
    jvm = frame.sparkSession.sparkContext._jvm
    if jvm is not None:
        level = jvm.org.apache.logging.log4j.Level.ERROR
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(_QUIET_LOGGER, level)
