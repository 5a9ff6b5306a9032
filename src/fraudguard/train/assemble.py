"""The nightly training set: new synthetic data + what the stream scored + what analysts confirmed.

    synthetic dataset (Faker, the run's window) ─────────────────────────────┐
    scored history (older than the window's end) ─ analysts' verdicts win ─ ids prefixed ─┴→ dataset

The stream's world is not the synthetic one, so its ids get the `stream:` prefix: a user or merchant
of one world never borrows the history of the other's namesake. Its user and merchant records are the
versions the stream kept in its tables. The result has the layout of `fraudguard simulate batch`, so
training reads it like any other dataset, and it is written under a temporary name, then renamed.
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
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from fraudguard.schemas import MERCHANT, REVIEW_LABEL, TRANSACTION, USER, RecordSchema

HISTORY_PREFIX = "stream:"
PREFIXED_IDS = {TRANSACTION.name: ("transaction_id", "user_id", "merchant_id"), USER.name: ("user_id",),
                MERCHANT.name: ("merchant_id",)}  # fmt: skip


@dataclass(frozen=True)
class Sources:
    synthetic: Path
    history: Path | None = None
    history_users: pd.DataFrame | None = None
    history_merchants: pd.DataFrame | None = None
    labels: Path | None = None


@dataclass(frozen=True)
class AssemblySummary:
    synthetic_transactions: int
    history_transactions: int
    labels_applied: int
    labels_changed: int
    transactions: int
    frauds: int
    users: int
    merchants: int


def assemble(spark: SparkSession, sources: Sources, until: datetime, out: Path) -> AssemblySummary:
    """Write the training set to `out`; history rows at or after `until` are left out."""
    synthetic = spark.read.parquet(str(sources.synthetic / "transactions")).select(*TRANSACTION.names)
    history, applied, changed = _history(spark, sources, until)
    transactions = synthetic.unionByName(history) if history is not None else synthetic
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (
        transactions.withColumn("day", F.to_date("timestamp").cast("string"))
        .repartition("day")
        .write.partitionBy("day")
        .parquet(str(partial / "transactions"))
    )
    users = _records(USER, sources.synthetic / "users.parquet", sources.history_users)
    merchants = _records(MERCHANT, sources.synthetic / "merchants.parquet", sources.history_merchants)
    pq.write_table(users, partial / "users.parquet")
    pq.write_table(merchants, partial / "merchants.parquet")
    written = spark.read.parquet(str(partial / "transactions"))
    total, frauds, from_history = written.agg(
        F.count("*"),
        F.sum(F.col("is_fraud").cast("long")),
        F.sum(F.col("transaction_id").startswith(HISTORY_PREFIX).cast("long")),
    ).first()
    summary = AssemblySummary(
        synthetic_transactions=total - (from_history or 0),
        history_transactions=from_history or 0,
        labels_applied=applied,
        labels_changed=changed,
        transactions=total,
        frauds=frauds or 0,
        users=len(set(users["user_id"].to_pylist())),
        merchants=len(set(merchants["merchant_id"].to_pylist())),
    )
    manifest = {
        "world": "training set",
        "until": until.isoformat(),
        "sources": {k: str(v) for k, v in asdict(sources).items() if isinstance(v, Path)},
        "schemas": [USER.tag, MERCHANT.tag, TRANSACTION.tag],
        "summary": asdict(summary),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return summary


def _history(spark: SparkSession, sources: Sources, until: datetime) -> tuple[DataFrame | None, int, int]:
    """The scored history's transactions with analysts' verdicts applied and ids prefixed."""
    if sources.history is None or not any(sources.history.rglob("*.parquet")):
        return None, 0, 0
    rows = (
        spark.read.parquet(str(sources.history))
        .select(*TRANSACTION.names)
        .where(F.col("timestamp") < F.lit(until))
        .dropDuplicates(["transaction_id"])  # a row the stream wrote twice counts once
    )
    applied = changed = 0
    if sources.labels is not None and sources.labels.exists():
        _check_labels(sources.labels)
        latest = Window.partitionBy("transaction_id").orderBy(F.col("reviewed_at").desc())
        verdicts = (
            spark.read.parquet(str(sources.labels))
            .withColumn("_rank", F.row_number().over(latest))
            .where("_rank = 1")
            .select("transaction_id", F.col("is_fraud").alias("_verdict"))
        )
        rows = rows.join(F.broadcast(verdicts), "transaction_id", "left")
        applied, changed = rows.agg(
            F.count("_verdict"), F.sum((F.col("_verdict") != F.col("is_fraud")).cast("long"))
        ).first()
        rows = rows.withColumn("is_fraud", F.coalesce("_verdict", "is_fraud")).drop("_verdict")
    prefixed = rows.withColumns(
        {name: F.concat(F.lit(HISTORY_PREFIX), F.col(name)) for name in PREFIXED_IDS[TRANSACTION.name]}
    )
    return prefixed.select(*TRANSACTION.names), applied, changed or 0


def _records(schema: RecordSchema, synthetic: Path, history: pd.DataFrame | None) -> pa.Table:
    tables = [pq.read_table(synthetic).select(list(schema.names)).cast(schema.arrow())]
    if history is not None and len(history):
        frame = history[list(schema.names)].copy()
        for name in PREFIXED_IDS[schema.name]:
            frame[name] = HISTORY_PREFIX + frame[name].astype(str)
        tables.append(pa.Table.from_pandas(frame, schema=schema.arrow(), preserve_index=False))
    return pa.concat_tables(tables)


def _check_labels(path: Path) -> None:
    """Refuse a labels file that is not REVIEW_LABEL, naming what is missing."""
    names = set(pq.read_schema(path).names)
    missing = [name for name in REVIEW_LABEL.names if name not in names]
    if missing:
        raise ValueError(f"{path}: not a review labels file, missing {', '.join(missing)}")
