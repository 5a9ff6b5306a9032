"""Training features in batch with Spark: the same definitions the streaming job computes incrementally.

transactions ─┬─ point-in-time join: the user and merchant record versions in force at the time
              ├─ merchant and category fraud rates over labels reported in time (`labels` topic),
              │  on an hourly calendar: a payment's rates read the hours just outside the label delay
              ├─ row features (`features.row`, numpy over Arrow batches)
              ├─ per-user behaviour (`features.user_history.advance`, per user via applyInArrow)
              ├─ distance and speed from the previous in-store payment
              └─ with browsing events: the payment's session (`features.sessions`)

The streaming job calls these same functions on each micro-batch (`stream.scoring`), with the per-user
features from `features.user_history` advanced in Spark's state store (`stream.user_state`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from fraudguard.config.model import FeatureSettings
from fraudguard.features.records import MERCHANT_COLUMNS, USER_COLUMNS
from fraudguard.features.row import (
    ROW_FEATURES,
    ROW_INPUTS,
    TRAVEL_FEATURES,
    TRAVEL_INPUTS,
    row_features,
    travel_features,
)
from fraudguard.features.sessions import with_session_features
from fraudguard.features.user_history import (
    STORE_IDS,
    STORE_PREFIXES,
    WINDOWS,
    UserState,
    advance,
    value_names,
)

MERCHANT_RISK_DAYS = (1, 7, 28)
"""Lookbacks of the merchant fraud rate: short ones react to a merchant turning bad, the long is stable."""
LONGEST_RISK_DAYS = max(MERCHANT_RISK_DAYS)
"""Also the lookback of the labelled count and of the category rate."""
EARLY_RATE = "merchant_fraud_rate_early"
"""The merchant's fraud rate over its payments inside the label delay (`early_window`), from the
chargebacks already reported: a merchant turning bad shows days before the delayed rates see it."""
MERCHANT_RISK_FEATURES = (
    *(f"merchant_fraud_rate_{d}d" for d in MERCHANT_RISK_DAYS),
    f"merchant_labelled_count_{LONGEST_RISK_DAYS}d",
    EARLY_RATE,
)
CATEGORY_RISK_FEATURES = (f"category_fraud_rate_{LONGEST_RISK_DAYS}d",)
RISK_FEATURES = (*MERCHANT_RISK_FEATURES, *CATEGORY_RISK_FEATURES)


def as_of_join(
    transactions: DataFrame, records: DataFrame, key: str, columns: dict[str, str], via: str | None = None
) -> DataFrame:
    """Each transaction with the version of its record in force at its time (latest `updated_at`
    not after the transaction); a transaction whose record has no such version keeps nulls. `via`
    names the transaction column holding the record's key when it is not `key` itself.

    A record's versions travel as one array sorted by `updated_at` and the join is on the key alone,
    so the transactions are not shuffled when the records are small enough to broadcast (they are
    few next to transactions), and once otherwise."""
    fields = [F.col("updated_at").alias("_version"), *(F.col(c).alias(a) for c, a in columns.items())]
    versions = records.groupBy(F.col(key).alias("_key")).agg(
        F.array_sort(F.collect_list(F.struct(*fields))).alias("_versions")
    )
    in_force = F.filter("_versions", lambda version: version["_version"] <= F.col("timestamp"))
    latest = F.get(in_force, F.size(in_force) - 1)  # null when none is in force
    joined = transactions.join(versions, F.col(via or key) == F.col("_key"), "left")
    return joined.select(*(transactions[c] for c in transactions.columns),
                         *(latest[a].alias(a) for a in columns.values()))  # fmt: skip


def user_history_features(joined: DataFrame, windows: dict[str, int] = WINDOWS) -> DataFrame:
    """transaction_id plus the per-user behavioural features (`value_names`, `STORE_IDS`), each user
    replayed from an empty state."""
    inputs = joined.select(
        "transaction_id",
        "user_id",
        (F.col("timestamp").cast("double")).alias("ts"),
        "amount",
        "device_ip",
        (F.col("channel") == "in_store").alias("in_store"),
        "merchant_id",
    )
    schema = T.StructType(
        [T.StructField("transaction_id", T.StringType())]
        + [T.StructField(name, T.DoubleType()) for name in value_names(windows)]
        + [T.StructField(name, T.StringType()) for name in STORE_IDS]
    )
    pa_schema = to_arrow_schema(schema)

    def replay(rows: pa.Table) -> pa.Table:
        # Arrow in and out: a pandas frame per user would cost more than the features.
        rows = rows.take(pc.sort_indices(rows, [("ts", "ascending"), ("transaction_id", "ascending")]))
        values, store_ids, _ = advance(
            UserState(),
            rows["ts"].to_numpy(),
            rows["amount"].to_numpy(),
            np.asarray(rows["device_ip"].to_pylist(), dtype=object),
            rows["in_store"].to_numpy(),
            np.asarray(rows["merchant_id"].to_pylist(), dtype=object),
            windows,
        )
        columns = {
            name: pa.array(values[name], pa.float64(), from_pandas=True) for name in value_names(windows)
        }
        stores = {name: pa.array(ids, pa.string()) for name, ids in zip(STORE_IDS, store_ids, strict=True)}
        return pa.table({"transaction_id": rows["transaction_id"], **columns, **stores}, schema=pa_schema)

    return inputs.groupBy("user_id").applyInArrow(replay, schema)


HOURS_PER_DAY = 24


def day_number(column: str = "timestamp") -> Column:
    """Days since the epoch (UTC) of the event time (or of `column`): when a label becomes known."""
    return F.datediff(F.to_date(column), F.lit("1970-01-01"))


def hour_number(column: str = "timestamp") -> Column:
    """Whole hours since the epoch (UTC) of the event time (or of `column`): the risk rates' calendar."""
    return F.floor(F.unix_timestamp(column) / 3600)


def day_of_hour(hour: Column) -> Column:
    return F.floor(hour / HOURS_PER_DAY)


RISK_KEYS = ("merchant_id", "merchant_category")
"""What the risk rates are per; their tables hold both, each side sums what it needs."""


def with_labels(transactions: DataFrame, labels: DataFrame) -> DataFrame:
    """`transactions` with `is_fraud` from their latest label (`LABEL` rows), false where none was
    reported: what a model learns from. Of two labels reported at once, fraud wins. (Labels are few
    next to transactions: they are broadcast, the transactions stay where they are.)"""
    verdicts = labels.groupBy("transaction_id").agg(
        F.max_by("is_fraud", F.struct("reported_at", "is_fraud")).alias("_label")
    )
    return (
        transactions.join(F.broadcast(verdicts), "transaction_id", "left")
        .withColumn("is_fraud", F.coalesce("_label", F.lit(False)))
        .drop("_label")
    )


def hourly_counts(rows: DataFrame) -> DataFrame:
    """Transactions per (`RISK_KEYS`, hour): the denominators of the risk rates."""
    return rows.groupBy(*RISK_KEYS, hour_number().alias("_hour")).agg(
        F.count("*").cast("double").alias("_count")
    )


def fraud_reports(labels: DataFrame, merchants: DataFrame) -> DataFrame:
    """One row per transaction reported as fraud (`LABEL` rows): its `RISK_KEYS` (the merchant's
    record at the transaction's time), its hour and the day its first fraud report came (`_known_day`)."""
    first = (
        labels.where("is_fraud")
        .groupBy("transaction_id")
        .agg(
            F.min_by("merchant_id", "reported_at").alias("merchant_id"),
            F.min_by("event_time", "reported_at").alias("timestamp"),
            F.min("reported_at").alias("_reported_at"),
        )
    )
    return as_of_join(first, merchants, "merchant_id", {"category": "merchant_category"}).select(
        *RISK_KEYS,
        hour_number().alias("_hour"),
        day_number("_reported_at").alias("_known_day"),
    )


def risk_horizon(first_hour: int, delay_days: int) -> int:
    """The earliest hour whose counts and labels a risk rate of `first_hour` or later can use."""
    return first_hour + label_window(delay_days, LONGEST_RISK_DAYS)[0]


def label_window(delay_days: int, lookback_days: int) -> tuple[int, int]:
    """The hours, relative to a transaction's hour H, whose transactions and labels its risk rates use:
    H - 24 (delay + lookback) .. H - 24 delay - 1 (both ends included), at most an hour more than the
    delay old and never less."""
    return -HOURS_PER_DAY * (delay_days + lookback_days), -HOURS_PER_DAY * delay_days - 1


def delayed_windows(delay_days: int, lookbacks: tuple[int, ...]) -> dict[str, tuple[int, int]]:
    """`label_window` of each lookback, named `{days}d`."""
    return {f"{days}d": label_window(delay_days, days) for days in lookbacks}


def early_window(delay_days: int) -> dict[str, tuple[int, int]]:
    """The hours inside the label delay but its last two days (`label_window(2, delay - 2)`): the stream
    computes a day's rates at its first payment, and these hours end more than a day before it."""
    return {"early": label_window(2, delay_days - 2)} if delay_days > 2 else {}


def delayed_fraud_rates(
    counts: DataFrame, reports: DataFrame, key: str, windows: dict[str, tuple[int, int]], prefix: str
) -> DataFrame:
    """Per (`key`, hour H) of `counts` (`hourly_counts`) and each named window of hours relative to H
    (`delayed_windows`, `early_window`): over the key's transactions in it, the share reported as fraud
    (`fraud_reports`) before H's day (`{prefix}_fraud_rate_{name}`), and how many there were
    (`{prefix}_labelled_count_{name}`). A fraud reported on day D counts from day D + 1 on, never
    before: a day's labels all come before the next day's payments on the topics, so the stream
    computes the rates of a day's hours once, at the day's first payment.

    Computed on hourly figures, every window in the same pass, so the work spans a few thousand rows
    per key whatever the volume."""
    counts = counts.groupBy(key, "_hour").agg(F.sum("_count").alias("_count"))
    ordered = Window.partitionBy(key).orderBy("_hour")
    count = counts.select(
        key,
        "_hour",
        *(
            F.coalesce(F.sum("_count").over(ordered.rangeBetween(*hours)), F.lit(0.0)).alias(f"_in_{name}")
            for name, hours in windows.items()
        ),
    )
    reported = reports.groupBy(
        F.col(key).alias("_fraud_key"), F.col("_hour").alias("_fraud_hour"), "_known_day"
    ).agg(F.count("*").cast("double").alias("_frauds"))
    widest, latest = min(low for low, _ in windows.values()), max(high for _, high in windows.values())
    frauds = (
        count.select(key, "_hour")
        .join(
            reported,
            (F.col("_fraud_key") == F.col(key))
            & F.col("_fraud_hour").between(F.col("_hour") + widest, F.col("_hour") + latest)
            & (F.col("_known_day") < day_of_hour(F.col("_hour"))),
        )
        .groupBy(key, "_hour")
        .agg(
            *(
                F.sum(
                    F.when(
                        F.col("_fraud_hour").between(F.col("_hour") + low, F.col("_hour") + high),
                        F.col("_frauds"),
                    )
                ).alias(f"_frauds_{name}")
                for name, (low, high) in windows.items()
            )
        )
    )
    columns = []
    for name in windows:
        total, known = F.col(f"_in_{name}"), F.coalesce(f"_frauds_{name}", F.lit(0.0))
        columns.append(F.when(total > 0, known / total).otherwise(0.0).alias(f"{prefix}_fraud_rate_{name}"))
        columns.append(total.alias(f"{prefix}_labelled_count_{name}"))
    return count.join(frauds, [key, "_hour"], "left").select(key, "_hour", *columns)


def with_delayed_rates(
    rows: DataFrame, key: str, delay_days: int, lookbacks: tuple[int, ...], prefix: str
) -> DataFrame:
    """`rows` with the label-delayed fraud rates and counts of their `key` in their hour, from their
    own `is_fraud`, each known on its transaction's day (how the handbook's features see labels)."""
    hour = hour_number().alias("_hour")
    counts = rows.groupBy(key, hour).agg(F.count("*").cast("double").alias("_count"))
    reports = rows.where("is_fraud").select(key, hour, day_number().alias("_known_day"))
    rates = delayed_fraud_rates(counts, reports, key, delayed_windows(delay_days, lookbacks), prefix)
    return rows.withColumn("_hour", hour_number()).join(rates, [key, "_hour"], "left").drop("_hour")


def with_entities(transactions: DataFrame, users: DataFrame, merchants: DataFrame) -> DataFrame:
    """Transactions with the user and merchant record versions in force at their time (nulls when
    none is known yet: the stream counts those as late dimensions)."""
    joined = as_of_join(transactions, users, "user_id", USER_COLUMNS)
    return as_of_join(joined, merchants, "merchant_id", MERCHANT_COLUMNS)


def risk_rates(
    counts: DataFrame, reports: DataFrame, settings: FeatureSettings, hours: list[int] | None = None
) -> tuple[DataFrame, DataFrame]:
    """Per (merchant, hour) and per (category, hour): the `RISK_FEATURES` from `hourly_counts` and
    `fraud_reports` that include at least every hour the windows reach back to. For the hours of
    `counts`, or for `hours` and every key with counts in their windows (a key with none has a rate
    of 0 over 0 transactions: `with_rates`). Without `settings.early_chargebacks`, `EARLY_RATE` is 0."""
    delay_days = settings.label_delay_days
    if hours is not None:
        grid = (
            counts.select(*RISK_KEYS)
            .distinct()
            .select(
                *RISK_KEYS,
                F.explode(F.array(*(F.lit(hour) for hour in hours))).alias("_hour"),
                F.lit(0.0).alias("_count"),
            )
        )
        counts = counts.unionByName(grid)
    early = early_window(delay_days) if settings.early_chargebacks else {}
    merchant = delayed_fraud_rates(
        counts,
        reports,
        "merchant_id",
        {**delayed_windows(delay_days, MERCHANT_RISK_DAYS), **early},
        "merchant",
    )
    category = delayed_fraud_rates(counts, reports, "merchant_category",
                                   delayed_windows(delay_days, (LONGEST_RISK_DAYS,)), "category")  # fmt: skip
    if not early:
        merchant = merchant.withColumn(EARLY_RATE, F.lit(0.0))
    merchant = merchant.select("merchant_id", "_hour", *MERCHANT_RISK_FEATURES)
    category = category.select("merchant_category", "_hour", *CATEGORY_RISK_FEATURES)
    if hours is not None:
        merchant, category = (rates.where(F.col("_hour").isin(hours)) for rates in (merchant, category))
    return merchant, category


def with_rates(rows: DataFrame, merchant_rates: DataFrame, category_rates: DataFrame) -> DataFrame:
    """`rows` (with `merchant_category`) plus `RISK_FEATURES` for their hour (`risk_rates`)."""
    known_category = F.col("merchant_category").isNotNull()
    return (
        rows.withColumn("_hour", hour_number())
        .join(merchant_rates, ["merchant_id", "_hour"], "left")
        .join(category_rates, ["merchant_category", "_hour"], "left")
        .select(
            *rows.columns,
            *(F.coalesce(name, F.lit(0.0)).alias(name) for name in MERCHANT_RISK_FEATURES),
            *(
                F.when(known_category, F.coalesce(name, F.lit(0.0))).alias(name)
                for name in CATEGORY_RISK_FEATURES
            ),
        )
    )


def with_risk(rows: DataFrame, counts: DataFrame, reports: DataFrame, settings: FeatureSettings) -> DataFrame:
    """`rows` (with `merchant_category`) plus `RISK_FEATURES` for their hour (`risk_rates`)."""
    return with_rates(rows, *risk_rates(counts, reports, settings))


def with_travel(rows: DataFrame, merchants: DataFrame) -> DataFrame:
    """`rows` (with the per-user features) plus the distances from the recent in-store payments and
    the speeds they imply, via the location of those payments' merchants at the time."""
    for prefix, store_id in zip(STORE_PREFIXES, STORE_IDS, strict=True):
        located = {"lat": f"{prefix}_lat", "lon": f"{prefix}_lon"}
        rows = as_of_join(rows, merchants, "merchant_id", located, via=store_id)
    return with_numpy_features(rows, travel_features, TRAVEL_INPUTS, TRAVEL_FEATURES)


def with_row_features(rows: DataFrame) -> DataFrame:
    """`rows` (transactions joined with `user_*` and `merchant_*` columns) plus `ROW_FEATURES`."""
    return with_numpy_features(rows, row_features, ROW_INPUTS, ROW_FEATURES)


def with_numpy_features(
    rows: DataFrame,
    compute: Callable[[pd.DataFrame], dict[str, np.ndarray]],
    inputs: tuple[str, ...],
    names: tuple[str, ...],
) -> DataFrame:
    """`rows` plus the double columns `names` (replacing columns of those names), computed by `compute`
    on each Arrow batch's `inputs` as pandas (NaN stored as null)."""
    kept = [field for field in rows.schema.fields if field.name not in names]
    schema = T.StructType([*kept, *(T.StructField(name, T.DoubleType()) for name in names)])

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            values = compute(batch.select(list(inputs)).to_pandas())
            new = [pa.array(values[name], pa.float64(), from_pandas=True) for name in names]
            yield pa.RecordBatch.from_arrays(
                [*(batch.column(f.name) for f in kept), *new], schema.fieldNames()
            )

    return rows.mapInArrow(run, schema)


def build_features(
    transactions: DataFrame,
    users: DataFrame,
    merchants: DataFrame,
    labels: DataFrame,
    settings: FeatureSettings,
    sessions: DataFrame | None = None,
) -> DataFrame:
    """One row per transaction: ids, event time, label (`is_fraud`, see `with_labels`), scenario, and
    every feature; the risk rates from `labels` as they were reported; with `sessions` (browsing
    events), the session features too."""
    joined = with_entities(transactions, users, merchants)
    joined = with_risk(joined, hourly_counts(joined), fraud_reports(labels, merchants), settings)
    joined = with_row_features(joined).join(user_history_features(joined), "transaction_id")
    joined = with_travel(joined, merchants)
    return with_session_features(joined, sessions) if sessions is not None else joined
