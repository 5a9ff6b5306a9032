"""The stream's tables under `stream.state_uri`: one partition per micro-batch, folded once enough
committed batches piled up, read as of a batch, and a replayed batch rewrites only its own rows (in
the scored history too, across resets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from fraudguard.config import load_settings
from fraudguard.stream import control as stream_control
from fraudguard.stream.scoring import MicroBatchScorer
from fraudguard.stream.storage import COMPACT_EVERY, Storage
from tests.conftest import CONFIG_FILE

pytestmark = pytest.mark.integration

SCHEMA = "key string, n long"


def test_batches_fold_into_one_partition_and_read_the_same(spark, tmp_path):
    storage = Storage(spark, tmp_path.as_uri())
    table = storage.table("totals", lambda rows: rows.groupBy("key").agg(F.sum("n").alias("n")))
    last = COMPACT_EVERY + 2
    for batch in range(last + 1):
        table.compact(batch, SCHEMA)
        table.add(batch, spark.createDataFrame([("a", 1), (f"b{batch % 3}", batch)], SCHEMA))

    def sums(batch_id: int) -> dict[str, int]:
        rows = table.read(batch_id, SCHEMA).groupBy("key").agg(F.sum("n").alias("n")).collect()
        return {row["key"]: row["n"] for row in rows}

    expected = {"a": last + 1, **{f"b{r}": sum(b for b in range(last + 1) if b % 3 == r) for r in range(3)}}
    assert sums(last) == expected
    kept = [f"batch={b:012d}" for b in range(COMPACT_EVERY, last + 1)]
    assert storage.children(table.uri) == [*kept, f"compact={COMPACT_EVERY:012d}"]

    # Spark replays the last batch: compaction finds nothing new to fold, the batch replaces its rows.
    table.compact(last, SCHEMA)
    table.add(last, spark.createDataFrame([("a", 1), (f"b{last % 3}", last)], SCHEMA))
    assert sums(last) == expected
    assert sums(last - 1)["a"] == last


def test_documents_are_replaced_whole_and_pruned(spark, tmp_path):
    storage = Storage(spark, tmp_path.as_uri())
    assert storage.read_document("batches/1.json") is None
    for number in range(5):
        storage.write_document(f"batches/{number}.json", {"batch": number, "text": "é"})
    storage.write_document("batches/4.json", {"batch": 4, "again": True})
    assert storage.read_document("batches/4.json") == {"batch": 4, "again": True}
    storage.prune_documents("batches", keep=2)
    assert storage.children(f"{storage.base}/batches") == ["3.json", "4.json"]


def test_the_scored_history_of_a_run_before_a_reset_is_kept(spark, tmp_path):
    """`stream reset` starts batch ids again at 0: batch 0 of the new run must not replace batch 0 of
    the old run's history, while a replay of a batch still replaces its own rows."""
    # No Kafka is written to here: a remote address keeps the local broker out of it.
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(tmp_path),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": "kafka.invalid:9092",
    }
    settings = load_settings(CONFIG_FILE, environ=environ)
    rows = spark.createDataFrame(
        [("t1", datetime(2026, 1, 1, tzinfo=UTC))], "transaction_id string, timestamp timestamp"
    )
    first = MicroBatchScorer(spark, settings)
    first._write_history(rows, 0)
    first._write_history(rows, 0)  # replayed
    stream_control.reset(settings)
    MicroBatchScorer(spark, settings)._write_history(rows.withColumn("transaction_id", F.lit("t2")), 0)
    history = spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas()
    assert sorted(history["transaction_id"]) == ["t1", "t2"]
    assert history["batch"].nunique() == 2
