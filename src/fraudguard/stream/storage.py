"""Where the streaming job keeps what outlives a micro-batch, under one base URI (`stream.state_uri`)
that every Spark node sees: the query checkpoint (offsets and the per-user state store), the tables
(user and merchant versions, labels, hourly counts, hourly risk rates kept by day) and one small
document per micro-batch (its plan, then its report).

A table is a folder of Parquet partitions, one per micro-batch that added rows (`batch=N`), folded
into one (`compact=N`: every row of the batches before N) every `COMPACT_EVERY` batches. Only
committed micro-batches are folded, so Spark's replay of the last one rewrites its own partition and
finds the same compaction. Files go through Hadoop's FileSystem API, so `hdfs:` and `s3a:` work too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from pyspark.sql import DataFrame, SparkSession

COMPACT_EVERY = 25
KEEP_DOCUMENTS = 200


class Storage:
    def __init__(self, spark: SparkSession, base_uri: str) -> None:
        self.spark, self.base = spark, base_uri.rstrip("/")
        self._jvm = cast(Any, spark.sparkContext._jvm)
        self._path = self._jvm.org.apache.hadoop.fs.Path
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path(self.base).getFileSystem(self._conf)
        self._fs.mkdirs(self._path(self.base))

    @property
    def checkpoint(self) -> str:
        return f"{self.base}/checkpoint"

    def day_table(self, name: str) -> DayTable:
        return DayTable(self, f"{self.base}/tables/{name}")

    def table(self, name: str, fold: Callable[[DataFrame], DataFrame]) -> BatchTable:
        """`fold` turns a table's rows into their compacted form (e.g. one row per key and version)."""
        return BatchTable(self, f"{self.base}/tables/{name}", fold)

    # Small documents (JSON), written whole and renamed into place.

    def read_document(self, name: str) -> dict[str, Any] | None:
        path = self._path(f"{self.base}/{name}")
        if not self._fs.exists(path):
            return None
        stream = self._fs.open(path)
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            text = "\n".join(iter(reader.readLine, None))
        finally:
            stream.close()
        return json.loads(text)

    def write_document(self, name: str, document: dict[str, Any]) -> None:
        target = self._path(f"{self.base}/{name}")
        partial = self._path(f"{self.base}/{name}.partial")
        stream = self._fs.create(partial, True)
        try:
            stream.write(bytearray(json.dumps(document, default=str).encode()))
        finally:
            stream.close()
        self._fs.delete(target, False)
        self._fs.rename(partial, target)

    def prune_documents(self, folder: str, keep: int = KEEP_DOCUMENTS) -> None:
        for name in self.children(f"{self.base}/{folder}")[:-keep]:
            self.delete(f"{self.base}/{folder}/{name}")

    def children(self, uri: str) -> list[str]:
        path = self._path(uri)
        if not self._fs.exists(path):
            return []
        return sorted(status.getPath().getName() for status in self._fs.listStatus(path))

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def rename(self, source: str, target: str) -> None:
        self._fs.rename(self._path(source), self._path(target))


class BatchTable:
    """Rows added by micro-batches; read as of a batch (its own rows included)."""

    def __init__(self, storage: Storage, uri: str, fold: Callable[[DataFrame], DataFrame]) -> None:
        self.storage, self.uri, self.fold = storage, uri, fold

    def _parts(self) -> tuple[int | None, list[int]]:
        compact, batches = None, []
        for name in self.storage.children(self.uri):
            kind, _, number = name.partition("=")
            if kind == "compact" and not name.endswith(".partial"):
                compact = max(compact or 0, int(number))
            elif kind == "batch":
                batches.append(int(number))
        return compact, sorted(batches)

    def _paths(self, batch_id: int) -> list[str]:
        compact, batches = self._parts()
        paths = [f"{self.uri}/compact={compact:012d}"] if compact is not None else []
        return paths + [f"{self.uri}/batch={b:012d}" for b in batches if (compact or 0) <= b <= batch_id]

    def add(self, batch_id: int, rows: DataFrame) -> None:
        """Store `rows` as the batch's partition (a replay replaces it)."""
        rows.write.mode("overwrite").parquet(f"{self.uri}/batch={batch_id:012d}")

    def read_batch(self, batch_id: int, schema) -> DataFrame:
        """The rows the batch added."""
        return self.storage.spark.read.schema(schema).parquet(f"{self.uri}/batch={batch_id:012d}")

    def read(self, batch_id: int, schema) -> DataFrame:
        paths = self._paths(batch_id)
        if not paths:
            return self.storage.spark.createDataFrame([], schema)
        return self.storage.spark.read.schema(schema).parquet(*paths)

    def compact(self, batch_id: int, schema) -> None:
        """Fold every committed batch (before `batch_id`) into one partition, when enough piled up."""
        compact, batches = self._parts()
        folded = [b for b in batches if b < batch_id and b >= (compact or 0)]
        if len(folded) < COMPACT_EVERY:
            return
        target = f"{self.uri}/compact={batch_id:012d}"
        partial = f"{target}.partial"
        self.fold(self.read(batch_id - 1, schema)).write.mode("overwrite").parquet(partial)
        self.storage.delete(target)
        self.storage.rename(partial, target)
        for name in self.storage.children(self.uri):
            kind, _, number = name.partition("=")
            if (kind == "batch" and int(number) < batch_id) or (
                kind == "compact" and name != target.rsplit("/", 1)[1]
            ):
                self.storage.delete(f"{self.uri}/{name}")


class DayTable:
    """Rows computed once per day and kept (`_day=N` partitions): a replay rewrites the days it wrote."""

    def __init__(self, storage: Storage, uri: str) -> None:
        self.storage, self.uri = storage, uri

    def days(self) -> set[int]:
        return {
            int(name.split("=", 1)[1]) for name in self.storage.children(self.uri) if name.startswith("_day=")
        }

    def write(self, rows: DataFrame) -> None:
        """`rows` with an integer `_day` column."""
        (
            rows.repartition("_day")  # a file a day
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("_day")
            .parquet(self.uri)
        )

    def read(self, days: list[int]) -> DataFrame:
        """The rows of `days`, without `_day`."""
        paths = [f"{self.uri}/_day={day}" for day in days]
        return self.storage.spark.read.option("basePath", self.uri).parquet(*paths).drop("_day")
