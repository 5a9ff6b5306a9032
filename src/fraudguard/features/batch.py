"""Training features in batch with Spark: the same definitions the streaming job computes incrementally.

transactions ─┬─ point-in-time join: the user and merchant record versions in force at the time
              ├─ row features (Spark expressions, `features.row`)
              ├─ per-user behaviour (`features.user_history.update`, per user via applyInPandas)
              └─ merchant and category fraud rates over labels older than the label delay
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudguard.config.model import FeatureSettings
from fraudguard.features.row import row_feature_columns, travel_feature_columns
from fraudguard.features.user_history import PREVIOUS_STORE, WINDOWS, UserState, feature_names, update

MERCHANT_RISK_DAYS = (1, 7, 28)
"""Lookbacks of the merchant fraud rate: short ones react to a merchant turning bad, the long is stable."""
RISK_FEATURES = (
    *(f"merchant_fraud_rate_{d}d" for d in MERCHANT_RISK_DAYS),
    "merchant_labelled_count_28d",
    "category_fraud_rate_28d",
)

_USER_COLUMNS = {"age": "user_age", "gender": "user_gender", "lat": "user_lat", "lon": "user_lon",
                 "signup_date": "user_signup_date"}  # fmt: skip
_MERCHANT_COLUMNS = {"category": "merchant_category", "lat": "merchant_lat", "lon": "merchant_lon",
                     "created_at": "merchant_created_at"}  # fmt: skip


def as_of_join(
    transactions: DataFrame, records: DataFrame, key: str, columns: dict[str, str], via: str | None = None
) -> DataFrame:
    """Each transaction with the version of its record in force at its time (latest `updated_at`
    not after the transaction); a transaction whose record has no such version keeps nulls. `via`
    names the transaction column holding the record's key when it is not `key` itself."""
    versions = records.select(
        F.col(key).alias("_key"),
        F.col("updated_at").alias("_version"),
        *(F.col(c).alias(a) for c, a in columns.items()),
    )
    joined = transactions.join(
        versions, (F.col(via or key) == F.col("_key")) & (F.col("_version") <= F.col("timestamp")), "left"
    )
    latest = Window.partitionBy("transaction_id").orderBy(F.col("_version").desc_nulls_last())
    return (
        joined.withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .drop("_rank", "_key", "_version")
    )


def user_history_features(joined: DataFrame, windows: dict[str, int] = WINDOWS) -> DataFrame:
    """transaction_id plus the per-user behavioural features, each user replayed from an empty state."""
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
        + [T.StructField(name, T.DoubleType()) for name in feature_names(windows)]
        + [T.StructField(PREVIOUS_STORE, T.StringType())]
    )

    def replay(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.sort_values(["ts", "transaction_id"], kind="stable")
        features, _ = update(UserState(), rows, windows)
        features.insert(0, "transaction_id", rows["transaction_id"].to_numpy())
        return features

    return inputs.groupBy("user_id").applyInPandas(replay, schema)


def delayed_fraud_rates(
    transactions: DataFrame, key: str, delay_days: int, lookback_days: int, prefix: str
) -> DataFrame:
    """Per (`key`, day): the fraud rate and labelled count over the key's transactions of days
    D - delay - lookback .. D - delay - 1, i.e. only labels known by day D.

    Computed on daily totals, so the window spans a few hundred rows per key whatever the volume
    (a range window over raw rows re-aggregates its whole frame for every row)."""
    day_number = F.datediff(F.to_date("timestamp"), F.lit("1970-01-01"))
    daily = transactions.groupBy(key, day_number.alias("_day")).agg(
        F.count("*").alias("_count"), F.sum(F.col("is_fraud").cast("double")).alias("_frauds")
    )
    window = (
        Window.partitionBy(key).orderBy("_day").rangeBetween(-(delay_days + lookback_days), -(delay_days + 1))
    )
    count = F.coalesce(F.sum("_count").over(window), F.lit(0)).cast("double")
    frauds = F.coalesce(F.sum("_frauds").over(window), F.lit(0.0))
    return daily.select(
        key,
        "_day",
        F.when(count > 0, frauds / count).otherwise(0.0).alias(f"{prefix}_fraud_rate"),
        count.alias(f"{prefix}_labelled_count"),
    )


def with_delayed_rates(
    rows: DataFrame, key: str, delay_days: int, lookback_days: int, prefix: str
) -> DataFrame:
    """`rows` with the label-delayed fraud rate and count of their `key` on their day."""
    rates = delayed_fraud_rates(rows, key, delay_days, lookback_days, prefix)
    day_number = F.datediff(F.to_date("timestamp"), F.lit("1970-01-01"))
    return rows.withColumn("_day", day_number).join(rates, [key, "_day"], "left").drop("_day")


def build_features(
    transactions: DataFrame, users: DataFrame, merchants: DataFrame, settings: FeatureSettings
) -> DataFrame:
    """One row per transaction: ids, event time, label, scenario, and every feature."""
    joined = as_of_join(transactions, users, "user_id", _USER_COLUMNS)
    joined = as_of_join(joined, merchants, "merchant_id", _MERCHANT_COLUMNS)
    delay = settings.label_delay_days
    for days in MERCHANT_RISK_DAYS:
        joined = with_delayed_rates(joined, "merchant_id", delay, days, f"merchant_{days}d")
        joined = joined.withColumnsRenamed(
            {f"merchant_{days}d_fraud_rate": f"merchant_fraud_rate_{days}d",
             f"merchant_{days}d_labelled_count": f"merchant_labelled_count_{days}d"}
        )  # fmt: skip
    joined = with_delayed_rates(joined, "merchant_category", delay, 28, "category_28d")
    joined = joined.withColumnsRenamed({"category_28d_fraud_rate": "category_fraud_rate_28d"})
    joined = joined.drop(
        "category_28d_labelled_count", "merchant_labelled_count_1d", "merchant_labelled_count_7d"
    )
    joined = joined.withColumns(row_feature_columns()).join(user_history_features(joined), "transaction_id")
    previous_store = {"lat": "previous_store_lat", "lon": "previous_store_lon"}
    joined = as_of_join(joined, merchants, "merchant_id", previous_store, via=PREVIOUS_STORE)
    return joined.withColumns(travel_feature_columns())
