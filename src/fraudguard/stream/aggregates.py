"""Live aggregates, published to the aggregates topic as the stream scores payments: per event-time
window (`stream.top_products_window_s`, `stream.alerts_window_s`), the products most bought in payments
not flagged as fraud, and the alerts.

Each micro-batch stores its own counts per measure, window length, window and product (a `storage.BatchTable`
partition, replaced on replay), then sums the counts of the windows it touched and publishes their top
`TOP_RANKS` again, keyed by measure, window and rank: on the compacted topic the latest message per
key is the window's figure so far. A replayed micro-batch finds the same counts and publishes the
same messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraudguard.schemas import AGGREGATE, Measure, format_timestamp
from fraudguard.stream.messages import KAFKA_ROWS, kafka_frames
from fraudguard.stream.session_join import BOUGHT
from fraudguard.stream.storage import BatchTable

TOP_RANKS = 5
COUNTS_SCHEMA = "measure string, window_s int, window_start timestamp, product_id string, _count long"
WINDOW = ["measure", "window_s", "window_start"]
"""A window's key: a new window length (config) starts new windows."""


def window_counts(scored: DataFrame, window_s: dict[Measure, int]) -> DataFrame:
    """A micro-batch's counts (`COUNTS_SCHEMA`) from its scored payments (`BOUGHT`, `alerted`)."""

    def window(measure: Measure) -> list[Column]:
        length = window_s[measure]
        start = F.window("timestamp", f"{length} seconds")["start"]
        return [
            F.lit(measure.value).alias("measure"),
            F.lit(length).alias("window_s"),
            start.alias("window_start"),
        ]

    purchases = scored.where(~F.col("alerted") & F.col(BOUGHT).isNotNull()).select(
        *window(Measure.TOP_PRODUCTS), F.col(BOUGHT).alias("product_id")
    )
    alerts = scored.where("alerted").select(
        *window(Measure.ALERTS), F.lit(None).cast("string").alias("product_id")
    )
    return summed(purchases.unionByName(alerts).withColumn("_count", F.lit(1).cast("long")))


def counted() -> Column:
    """The scored payments that some window counts (`window_counts`)."""
    return F.col("alerted") | F.col(BOUGHT).isNotNull()


def summed(counts: DataFrame) -> DataFrame:
    return counts.groupBy(*WINDOW, "product_id").agg(F.sum("_count").alias("_count"))


def top_ranks(totals: DataFrame) -> DataFrame:
    """Each window's `TOP_RANKS` most counted products (ties: by product id), each with its `rank`."""
    order = Window.partitionBy(*WINDOW).orderBy(F.desc("_count"), F.asc("product_id"))
    return totals.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= TOP_RANKS)


@dataclass(frozen=True)
class WindowTotals:
    """Each window's totals so far, from the counts of every micro-batch in `table`."""

    table: BatchTable
    window_s: dict[Measure, int]

    @staticmethod
    def earliest() -> Column:
        """An aggregate of the scored payments, for `messages`: the earliest event time a window counts."""
        return F.min(F.when(counted(), F.col("timestamp")))

    def messages(
        self, scored: DataFrame, batch_id: int, updated_at: datetime, earliest: datetime | None
    ) -> DataFrame | None:
        """Kafka rows of every rank of the windows `scored` touched (None when it touched none)."""
        counts = window_counts(scored, self.window_s)
        self.table.add(batch_id, counts)
        self.table.compact(batch_id, COUNTS_SCHEMA)
        if earliest is None:
            return None
        windows = self.table.read_batch(batch_id, COUNTS_SCHEMA).select(*WINDOW).distinct()
        longest = max(self.window_s.values())  # a window holding `earliest` starts less than this before it
        since = F.lit(earliest) - F.expr(f"INTERVAL {longest} SECONDS")
        totals = (
            self.table.read(batch_id, COUNTS_SCHEMA)
            .where(F.col("window_start") > since)  # lets Parquet skip older row groups
            .join(F.broadcast(windows), WINDOW)
        )
        return top_ranks(summed(totals)).mapInPandas(AggregateMaker(updated_at), KAFKA_ROWS)


@dataclass(frozen=True)
class AggregateMaker:
    """Builds the aggregate messages on the executors."""

    updated_at: datetime

    def __call__(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return kafka_frames(AGGREGATE, frames, self.aggregate)

    def aggregate(self, row: dict) -> dict:
        start = pd.Timestamp(row["window_start"]).tz_localize(UTC).to_pydatetime()  # Spark's: UTC, naive
        measure = row["measure"]
        return {
            "aggregate_id": f"{measure}/{format_timestamp(start)}/{row['rank']}",
            "measure": measure,
            "window_start": start,
            "window_end": start + timedelta(seconds=int(row["window_s"])),
            "rank": int(row["rank"]),
            "product_id": row["product_id"],
            "count": int(row["_count"]),
            "updated_at": self.updated_at,
        }
