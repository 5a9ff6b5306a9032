"""The nightly training set: new synthetic data + what the stream scored + the labels reported for it.

    synthetic dataset (Faker, the run's window, its labels) ──────────────────────────┐
    scored history (older than the window's end) ─────────────────── ids prefixed ─┼→ dataset
    labels topic (chargebacks, analysts' verdicts, as known now) ──────── ids prefixed ─┘
    synthetic browsing sessions and product catalogue ──────────────────────────────→ copied

The stream's world is not the synthetic one, so its ids get the `stream:` prefix: a user or merchant
of one world never borrows the history of the other's namesake. Its user and merchant records are the
versions the stream kept in its tables. The result has the layout of `fraudguard simulate batch`, so
training reads it like any other dataset (the latest label of a transaction is its training label),
and it is written under a temporary name, then renamed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudguard.features.batch import with_labels
from fraudguard.schemas import (
    LABEL,
    MERCHANT,
    PRODUCT,
    REVIEW,
    SESSION_EVENT,
    TRANSACTION,
    USER,
    RecordSchema,
)
from fraudguard.spark import spark_schema

HISTORY_PREFIX = "stream:"
PREFIXED_IDS = {TRANSACTION.name: ("transaction_id", "user_id", "merchant_id", "session_id"),
                USER.name: ("user_id",), MERCHANT.name: ("merchant_id",),
                LABEL.name: ("transaction_id", "merchant_id")}  # fmt: skip


@dataclass(frozen=True)
class Sources:
    synthetic: Path
    history: Path | None = None
    history_users: pd.DataFrame | None = None
    history_merchants: pd.DataFrame | None = None
    history_labels: DataFrame | None = None
    """`LABEL` rows of the labels topic."""
    include_reviews: bool = True
    """Whether analysts' verdicts count (the `review` labels)."""


@dataclass(frozen=True)
class AssemblySummary:
    synthetic_transactions: int
    history_transactions: int
    history_labels: int
    review_labels: int
    transactions: int
    frauds: int
    users: int
    merchants: int


def assemble(spark: SparkSession, sources: Sources, until: datetime, out: Path) -> AssemblySummary:
    """Write the training set to `out`; history rows at or after `until` are left out."""
    synthetic = spark.read.parquet(str(sources.synthetic / "transactions")).select(*TRANSACTION.names)
    history = _history(spark, sources, until)
    transactions = synthetic.unionByName(history) if history is not None else synthetic
    history_labels = _history_labels(sources)
    labels = spark.read.parquet(str(sources.synthetic / "labels.parquet")).select(*LABEL.names)
    if history_labels is not None:
        labels = labels.unionByName(history_labels)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (
        transactions.withColumn("day", F.to_date("timestamp").cast("string"))
        .repartition("day")
        .write.partitionBy("day")
        .parquet(str(partial / "transactions"))
    )
    labels.coalesce(1).write.parquet(str(partial / "labels.parquet"))
    browsing = [name for name in ("sessions", "products.parquet") if (sources.synthetic / name).exists()]
    for name in browsing:  # the stream's history keeps no browsing events: the synthetic ones only
        copy = shutil.copytree if (sources.synthetic / name).is_dir() else shutil.copyfile
        copy(sources.synthetic / name, partial / name)
    users = _records(USER, sources.synthetic / "users.parquet", sources.history_users)
    merchants = _records(MERCHANT, sources.synthetic / "merchants.parquet", sources.history_merchants)
    pq.write_table(users, partial / "users.parquet")
    pq.write_table(merchants, partial / "merchants.parquet")
    labelled = with_labels(
        spark.read.parquet(str(partial / "transactions")), spark.read.parquet(str(partial / "labels.parquet"))
    )
    total, frauds, from_history = labelled.agg(
        F.count("*"),
        F.sum(F.col("is_fraud").cast("long")),
        F.sum(F.col("transaction_id").startswith(HISTORY_PREFIX).cast("long")),
    ).collect()[0]
    label_counts = (
        history_labels.agg(F.count("*"), F.sum((F.col("source") == REVIEW).cast("long"))).collect()[0]
        if history_labels is not None
        else (0, 0)
    )
    summary = AssemblySummary(
        synthetic_transactions=total - (from_history or 0),
        history_transactions=from_history or 0,
        history_labels=label_counts[0],
        review_labels=label_counts[1] or 0,
        transactions=total,
        frauds=frauds or 0,
        users=len(set(users["user_id"].to_pylist())),
        merchants=len(set(merchants["merchant_id"].to_pylist())),
    )
    manifest = {
        "world": "training set",
        "until": until.isoformat(),
        "sources": {k: str(getattr(sources, k)) for k in ("synthetic", "history") if getattr(sources, k)},
        "schemas": [USER.tag, MERCHANT.tag, TRANSACTION.tag, LABEL.tag]
        + ([SESSION_EVENT.tag, PRODUCT.tag] if browsing else []),
        "summary": asdict(summary),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return summary


def _history(spark: SparkSession, sources: Sources, until: datetime) -> DataFrame | None:
    """The scored history's transactions before `until`, ids prefixed."""
    if sources.history is None or not any(sources.history.rglob("*.parquet")):
        return None
    rows = spark.read.parquet(str(sources.history))
    # a history written before a nullable field was added lacks it
    fields = spark_schema(TRANSACTION).fields
    rows = rows.withColumns(
        {f.name: F.lit(None).cast(f.dataType) for f in fields if f.nullable and f.name not in rows.columns}
    )
    rows = (
        rows.select(*TRANSACTION.names)
        .where(F.col("timestamp") < F.lit(until))
        .dropDuplicates(["transaction_id"])  # a row the stream wrote twice counts once
    )
    return _prefixed(rows, TRANSACTION)


def _history_labels(sources: Sources) -> DataFrame | None:
    """Every label of the labels topic so far (without analysts' verdicts unless included), ids
    prefixed: a transaction's training label is the latest known when the training runs."""
    if sources.history is None or sources.history_labels is None:
        return None
    labels = sources.history_labels
    if not sources.include_reviews:
        labels = labels.where(F.col("source") != REVIEW)
    return _prefixed(labels, LABEL)


def _prefixed(rows: DataFrame, schema: RecordSchema) -> DataFrame:
    ids = {name: F.concat(F.lit(HISTORY_PREFIX), F.col(name)) for name in PREFIXED_IDS[schema.name]}
    return rows.withColumns(ids).select(*schema.names)


def _records(schema: RecordSchema, synthetic: Path, history: pd.DataFrame | None) -> pa.Table:
    tables = [pq.read_table(synthetic).select(list(schema.names)).cast(schema.arrow())]
    if history is not None and len(history):
        frame = history[list(schema.names)].copy()
        for name in PREFIXED_IDS[schema.name]:
            frame[name] = HISTORY_PREFIX + frame[name].astype(str)
        tables.append(pa.Table.from_pandas(frame, schema=schema.arrow(), preserve_index=False))
    return pa.concat_tables(tables)
