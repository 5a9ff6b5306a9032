"""Kafka sink rows built on the executors (`mapInPandas`) from records of one of our schemas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa

from fraudguard.schemas import SCHEMA_HEADER, RecordSchema

KAFKA_ROWS = "key binary, value binary, headers array<struct<key: string, value: binary>>"


def kafka_frames(
    schema: RecordSchema, frames: Iterator[pd.DataFrame], record: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[pd.DataFrame]:
    """`mapInPandas` of `record` over the rows, as `KAFKA_ROWS`: keyed by the schema's key, JSON values,
    the schema in the header."""
    header = [(SCHEMA_HEADER, schema.tag.encode())]
    for frame in frames:
        if frame.empty:
            continue
        records = [record(row) for row in frame.to_dict("records")]
        keys, values = schema.encode(pa.Table.from_pylist(records, schema=schema.arrow()))
        yield pd.DataFrame(
            {"key": [k.encode() for k in keys], "value": values, "headers": [header] * len(keys)}
        )
