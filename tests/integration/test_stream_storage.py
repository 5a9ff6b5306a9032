"""The stream's tables under `stream.state_uri`: one partition per micro-batch, folded once enough
committed batches piled up, read as of a batch, and a replayed batch rewrites only its own rows."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from fraudguard.stream.storage import COMPACT_EVERY, Storage

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
