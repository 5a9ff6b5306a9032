"""`fraudguard data import`: a CSV or Parquet file becomes a dataset that training and replay read.

The file is read once, in batches; each batch is checked and converted to the dataset's rows
(`schema.py`: the file's columns plus the canonical ones) and appended to one Parquet file. The dataset
appears at its place only when the whole file was read without an error, so a bad file writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudguard.data.profiles import GENERIC, PROFILES
from fraudguard.data.reading import SourceFile
from fraudguard.data.schema import (
    CANONICAL,
    RESERVED,
    ROWS_DIR,
    SINGLE_ROLES,
    TIME_UNITS,
    Column,
    DatasetError,
    DatasetSchema,
    Role,
)
from fraudguard.folders import replacing

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
ROWS_FILE = "part-00000.parquet"
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")
TEXT_ROLES = (Role.ID, Role.USER, Role.MERCHANT, Role.CATEGORICAL, None)  # None: text not settled yet


@dataclass(frozen=True)
class ImportOptions:
    profile: str  # paysim | creditcard | csv
    name: str
    label: str | None = None  # csv: the label column (required)
    time: str | None = None  # csv: the time column
    id: str | None = None  # csv: the id column
    roles: dict[str, Role] = field(default_factory=dict)  # overrides: column -> role
    time_unit: str = "s"  # csv: what a numeric time counts
    start: datetime = DEFAULT_START  # what a numeric time of 0 is
    max_categories: int = 50  # text columns with at most this many values are categories


def import_dataset(source: SourceFile, out: Path, options: ImportOptions) -> DatasetSchema:
    """Read, check and convert `source` into the dataset folder `out` (replaced when it exists)."""
    columns = plan_columns(source, options)
    types = _pass_types(source.schema(), columns)
    texts: dict[str, set] = {c.name: set() for c in columns if c.role is None}
    rows = frauds = 0
    with replacing(out) as staging:
        (staging / ROWS_DIR).mkdir()
        writer: pq.ParquetWriter | None = None
        try:
            for first_row, batch in source.batches(types):
                table = dataset_rows(batch, columns, options, first_row, source.path)
                for name, seen in texts.items():
                    if len(seen) <= options.max_categories:
                        seen.update(pc.unique(batch.column(name)).to_pylist())
                if writer is None:
                    writer = pq.ParquetWriter(
                        staging / ROWS_DIR / ROWS_FILE, table.schema, compression="zstd"
                    )
                writer.write_table(table)
                rows += table.num_rows
                frauds += pc.sum(table.column("is_fraud")).as_py() or 0
        finally:
            if writer is not None:
                writer.close()
        if rows == 0:
            raise DatasetError(f"{source.path}: no rows after the header")
        schema = DatasetSchema(
            profile=options.profile,
            name=options.name,
            columns=tuple(_settled(column, texts, options.max_categories) for column in columns),
            source=str(source.path),
            time_unit=_time_unit(options)
            if any(c.role is Role.TIME and c.is_number for c in columns)
            else None,
            start=options.start,
            rows=rows,
            frauds=int(frauds),
            imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        schema.save(staging)
    return schema


def plan_columns(source: SourceFile, options: ImportOptions) -> list[Column]:
    """Each column of the file with its role (None: a text column, category or not by its values)."""
    read = source.schema()
    names = read.names
    if options.profile in PROFILES:
        profile = PROFILES[options.profile]
        missing = [name for name in profile.columns if name not in names]
        extra = [name for name in names if name not in profile.roles]
        if missing or extra:
            found = [f"missing {_listed(missing)}"] if missing else []
            found += [f"unexpected {_listed(extra)}"] if extra else []
            raise DatasetError(
                f"{source.path}: not the {profile.title} format ({'; '.join(found)}); "
                "import other files with `fraudguard data import csv`"
            )
        columns = [Column(name, str(read.field(name).type), *profile.roles[name]) for name in names]
    elif options.profile == GENERIC:
        columns = _inferred(read, options, source.path)
    else:
        raise DatasetError(f"unknown profile {options.profile!r}: one of {', '.join([*PROFILES, GENERIC])}")
    columns = _overridden(columns, options.roles, source.path)
    _check_roles(columns, source.path)
    return columns


def dataset_rows(
    batch: pa.RecordBatch, columns: list[Column], options: ImportOptions, first_row: int, path: Path
) -> pa.Table:
    """The file's batch as dataset rows: the canonical columns (which replace the label, time, id, user
    and merchant columns they come from), then the file's other columns."""
    by_role = {column.role: column for column in columns if column.role in SINGLE_ROLES}
    rows: dict[str, pa.Array] = {}
    ids = by_role.get(Role.ID)
    if ids is not None:
        own = _required(batch, ids, first_row, path).cast(pa.string())
    else:
        own = pa.array(np.arange(first_row, first_row + batch.num_rows)).cast(pa.string())
    # prefixed with the dataset: ids stay unique across datasets (the alert store is keyed by them)
    rows["transaction_id"] = pc.binary_join_element_wise(f"{options.name}-", own, "")
    if Role.TIME in by_role:
        rows["timestamp"] = _timestamps(_required(batch, by_role[Role.TIME], first_row, path), options)
    rows["is_fraud"] = _labels(batch, by_role[Role.LABEL], first_row, path)
    for role in (Role.USER, Role.MERCHANT):
        if role in by_role:
            rows[CANONICAL[role]] = _required(batch, by_role[role], first_row, path).cast(pa.string())
    for column in columns:
        if column.name in rows or column.role in SINGLE_ROLES:  # kept once, as its canonical column
            continue
        values = batch.column(column.name)
        if column.role is Role.NUMERIC:
            values = values.cast(pa.float64())
        elif column.role is Role.CATEGORICAL or pa.types.is_null(values.type):
            values = values.cast(pa.string())
        rows[column.name] = values
    return pa.table(rows)


def _listed(names: list[str], shown: int = 6) -> str:
    more = f", ... ({len(names)} columns)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _inferred(read: pa.Schema, options: ImportOptions, path: Path) -> list[Column]:
    if options.label is None:
        raise DatasetError("a CSV import needs --label COLUMN (the column that says which rows are fraud)")
    chosen = {options.label: Role.LABEL, options.time: Role.TIME, options.id: Role.ID}
    for name, role in chosen.items():
        if name is not None and name not in read.names:
            raise DatasetError(
                f"{path}: no {role.value} column {name!r}; the file's columns are {', '.join(read.names)}"
            )
    columns = []
    for found in read:
        column = Column(found.name, str(found.type), Role.IGNORE)
        if found.name in chosen:
            column = replace(column, role=chosen[found.name], why="chosen")
        elif column.is_number:
            column = replace(column, role=Role.NUMERIC, why="numbers")
        elif column.is_timestamp:
            column = replace(column, why="a timestamp (--time makes it the event time)")
        else:
            column = replace(column, role=None)  # settled by its values
        columns.append(column)
    return columns


def _overridden(columns: list[Column], roles: dict[str, Role], path: Path) -> list[Column]:
    names = [column.name for column in columns]
    unknown = [name for name in roles if name not in names]
    if unknown:
        raise DatasetError(
            f"{path}: no column {unknown[0]!r} to give a role; the columns are {', '.join(names)}"
        )
    return [
        replace(column, role=roles[column.name], why="chosen") if column.name in roles else column
        for column in columns
    ]


def _check_roles(columns: list[Column], path: Path) -> None:
    for role in SINGLE_ROLES:
        holders = [column.name for column in columns if column.role is role]
        if len(holders) > 1:
            raise DatasetError(f"{path}: only one column can be the {role.value}; {', '.join(holders)} are")
    if not any(column.role is Role.LABEL for column in columns):
        raise DatasetError(f"{path}: no label column")
    for column in columns:
        canonical = CANONICAL.get(column.role) if column.role else None
        if column.name in RESERVED and column.name != canonical and column.role is not Role.IGNORE:
            raise DatasetError(
                f"{path}: column {column.name!r} has a name the platform gives its own column; rename it "
                f"in the file, or give it --role {column.name}=ignore"
            )


def _pass_types(read: pa.Schema, columns: list[Column]) -> dict[str, pa.DataType]:
    """How the pass reads each column: inputs and numeric times as float64 (an integer column may hold
    1.5 further down, and a profile's number column must hold numbers), identifiers and categories as
    text, the rest as Arrow inferred it. A value that does not fit is an error naming its row."""
    types = {}
    for column in columns:
        found = read.field(column.name).type
        if column.role in TEXT_ROLES or pa.types.is_null(found):
            types[column.name] = pa.string()
        elif column.role is Role.NUMERIC and not pa.types.is_boolean(found):
            types[column.name] = pa.float64()
        elif column.role is Role.TIME and not (pa.types.is_timestamp(found) or pa.types.is_date(found)):
            types[column.name] = pa.float64() if column.is_number else pa.timestamp("us")
        else:
            types[column.name] = found
    return types


def _settled(column: Column, texts: dict[str, set], max_categories: int) -> Column:
    if column.role is not None:
        return column
    values = len(texts[column.name] - {None})
    if values <= max_categories:
        return replace(column, role=Role.CATEGORICAL, why=f"text with {values} distinct values")
    return replace(column, role=Role.IGNORE, why=f"text with more than {max_categories} distinct values")


def _time_unit(options: ImportOptions) -> str:
    unit = PROFILES[options.profile].time_unit if options.profile in PROFILES else options.time_unit
    if unit not in TIME_UNITS:
        raise DatasetError(f"unknown time unit {unit!r}: one of {', '.join(TIME_UNITS)}")
    return unit


def _required(batch: pa.RecordBatch, column: Column, first_row: int, path: Path) -> pa.Array:
    values = batch.column(column.name)
    if values.null_count:
        row = first_row + int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise DatasetError(f"{path}: the {column.role} column {column.name!r} is empty at row {row}")
    return values


def _labels(batch: pa.RecordBatch, column: Column, first_row: int, path: Path) -> pa.Array:
    """The label as booleans: 1/0, true/false (or yes/no); anything else names its row."""
    values = _required(batch, column, first_row, path)
    if pa.types.is_boolean(values.type):
        return values
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        numbers = values.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((numbers != 0) & (numbers != 1))
        labels = pa.array(numbers == 1)
    else:
        text = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
        truth = pc.is_in(text, pa.array(_TRUE))
        bad = np.flatnonzero(
            ~(
                truth.to_numpy(zero_copy_only=False)
                | pc.is_in(text, pa.array(_FALSE)).to_numpy(zero_copy_only=False)
            )
        )
        labels = truth
    if len(bad):
        raise DatasetError(
            f"{path}: the label column {column.name!r} is not binary: row {first_row + int(bad[0])} has "
            f"{values[int(bad[0])].as_py()!r} (expected 1/0 or true/false)"
        )
    return labels


def _timestamps(values: pa.Array, options: ImportOptions) -> pa.Array:
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        return values.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    unit_us = TIME_UNITS[_time_unit(options)].total_seconds() * 1e6
    start_us = int(options.start.timestamp() * 1e6)
    offsets = np.rint(values.to_numpy(zero_copy_only=False) * unit_us).astype("int64")
    return pa.array(start_us + offsets, type=pa.timestamp("us", tz="UTC"))
