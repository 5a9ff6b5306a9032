"""A CSV or Parquet file read in batches of Arrow record batches (constant memory, any size), with
errors that name the column and the row.

CSV column types are inferred by Arrow from the first block; a later value that does not fit its
column's type is located (column, row, value) by reading that stretch of the file again as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fraudguard.data.schema import DatasetError

BLOCK_BYTES = 1 << 20  # the first block decides the column types: ~10,000 rows of a typical file
PARQUET_BATCH_ROWS = 200_000
_CONVERSION = re.compile(r"In CSV column #(\d+): .*CSV conversion error")


@dataclass
class SourceFile:
    """The file to import; `progress(done, total)` is called after each batch, in bytes (for Parquet,
    the share of its rows read)."""

    path: Path
    progress: Callable[[int, int], None] = lambda done, total: None

    @property
    def is_parquet(self) -> bool:
        return self.path.suffix.lower() in (".parquet", ".pq")

    def schema(self) -> pa.Schema:
        """The columns and types (CSV: inferred from the first block)."""
        if self.is_parquet:
            return self._parquet().schema_arrow
        with self.path.open("rb") as file:
            try:
                return pa_csv.open_csv(file, read_options=self._blocks()).schema
            except pa.ArrowInvalid as error:
                raise DatasetError(f"{self.path}: not a readable CSV file ({error})") from None

    def batches(self, types: dict[str, pa.DataType]) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(first row number, batch) for every batch, each column read as `types` says; row 1 is the
        first row after the header."""
        if self.is_parquet:
            for row, batch in self._parquet_batches():
                yield row, self._cast(batch, types, row)
            return
        total, row = self.path.stat().st_size, 1
        expected = pa.schema(list(types.items()))
        with self.path.open("rb") as file:
            try:  # opening reads the first block
                reader = pa_csv.open_csv(
                    file,
                    read_options=self._blocks(),
                    convert_options=pa_csv.ConvertOptions(column_types=types),
                )
            except pa.ArrowInvalid as error:
                raise self._located(error, expected, row) from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as error:
                    raise self._located(error, expected, row) from None
                yield row, batch
                row += batch.num_rows
                self.progress(file.tell(), total)

    def _cast(self, batch: pa.RecordBatch, types: dict[str, pa.DataType], row: int) -> pa.RecordBatch:
        columns = []
        for name in batch.schema.names:
            values = batch.column(name)
            if values.type != types[name]:
                if not _casts(values, types[name]):
                    raise self._bad_value(name, types[name], values, row)
                values = pc.cast(values, types[name])
            columns.append(values)
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    def _parquet(self) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.path)
        except (OSError, pa.ArrowException) as error:
            raise DatasetError(f"{self.path}: not a readable Parquet file ({error})") from None

    def _parquet_batches(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        parquet = self._parquet()
        rows, size, row = parquet.metadata.num_rows, self.path.stat().st_size, 1
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            yield row, batch
            row += batch.num_rows
            self.progress(size * (row - 1) // max(rows, 1), size)

    @staticmethod
    def _blocks(skip_rows: int = 0) -> pa_csv.ReadOptions:
        return pa_csv.ReadOptions(block_size=BLOCK_BYTES, skip_rows_after_names=skip_rows)

    def _located(self, error: pa.ArrowInvalid, schema: pa.Schema, from_row: int) -> DatasetError:
        """The first value, at or after `from_row`, that its column's type cannot hold."""
        match = _CONVERSION.search(str(error))
        if match is None:
            return DatasetError(f"{self.path}: unreadable after row {from_row - 1}: {error}")
        column = schema.field(int(match.group(1)))
        with self.path.open("rb") as file:
            reader = pa_csv.open_csv(
                file,
                read_options=self._blocks(skip_rows=from_row - 1),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=[column.name], column_types={column.name: pa.string()},
                    strings_can_be_null=True,
                ),
            )  # fmt: skip
            row = from_row
            for batch in reader:
                if not _casts(batch.column(0), column.type):
                    return self._bad_value(column.name, column.type, batch.column(0), row)
                row += batch.num_rows
        return DatasetError(f"{self.path}: column {column.name!r} changes type after row {from_row - 1}")

    def _bad_value(self, name: str, target: pa.DataType, values: pa.Array, row: int) -> DatasetError:
        """The error for the first of `values` (which start at `row`) that `target` cannot hold."""
        index = next((i for i in range(len(values)) if not _casts(values.slice(i, 1), target)), 0)
        return DatasetError(
            f"{self.path}: column {name!r} holds {_kind(target)}, but row {row + index} has "
            f"{values[index].as_py()!r}"
        )


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _kind(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "whole numbers"
    if pa.types.is_floating(arrow_type):
        return "numbers"
    if pa.types.is_boolean(arrow_type):
        return "true/false values"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamps"
    return f"{arrow_type} values"
