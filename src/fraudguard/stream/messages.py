"""Kafka sink rows built on the executors (`mapInPandas`) from records of one of our schemas."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from fraudguard.schemas import SCHEMA_HEADER, RecordSchema

KAFKA_ROWS = "key binary, value binary, headers array<struct<key: string, value: binary>>"


def kafka_frame(schema: RecordSchema, records: list[dict[str, Any]]) -> pd.DataFrame:
    """`records` as `KAFKA_ROWS`: keyed by the schema's key, JSON values, the schema in the header."""
    keys, values = schema.encode(pa.Table.from_pylist(records, schema=schema.arrow()))
    header = [(SCHEMA_HEADER, schema.tag.encode())]
    return pd.DataFrame({"key": [k.encode() for k in keys], "value": values, "headers": [header] * len(keys)})
