"""The record schemas, defined once: producers, Spark, the Parquet datasets and the alert service use them.

Each schema derives its Arrow schema, its Spark schema and its JSON validation from one field list, so
a field added here reaches every component. Kafka messages are UTF-8 JSON objects with timestamps as
ISO-8601 UTC strings; the schema's name and version travel in the `schema` message header.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import pyarrow as pa

FieldType = Literal["string", "int", "double", "bool", "timestamp", "strings"]
SCHEMA_HEADER = "schema"

_ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "strings": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str
    nullable: bool = False


@dataclass(frozen=True)
class RecordSchema:
    name: str
    version: int
    key: str
    fields: tuple[Field, ...]

    @property
    def tag(self) -> str:
        """The value of the `schema` header, e.g. `transaction.v2`."""
        return f"{self.name}.v{self.version}"

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    def fields_named(self, *names: str) -> tuple[Field, ...]:
        """Some of this schema's fields, for a schema that carries them too (one definition each)."""
        by_name = {field.name: field for field in self.fields}
        return tuple(by_name[name] for name in names)

    def arrow(self) -> pa.Schema:
        return pa.schema(
            [pa.field(f.name, _ARROW_TYPES[f.type], nullable=f.nullable) for f in self.fields],
            metadata={"schema": self.tag},
        )

    def table(self, **columns: Any) -> pa.Table:
        """An Arrow table of this schema from columns given by field name (timestamps in epoch ms);
        a missing or extra column is an error, so producers cannot drift from the schema."""
        if set(columns) != set(self.names):
            raise ValueError(f"{self.tag}: columns {sorted(set(columns) ^ set(self.names))} do not match")
        arrow = self.arrow()
        arrays = []
        for field in arrow:
            values = columns[field.name]
            if pa.types.is_timestamp(field.type):
                values = np.asarray(values, dtype=np.int64).astype("datetime64[ms]")
            arrays.append(pa.array(values, field.type))
        return pa.Table.from_arrays(arrays, schema=arrow)

    def encode(self, table: pa.Table) -> tuple[list[str], list[bytes]]:
        """Rows of an Arrow table as (keys, compact JSON values), timestamps in ISO-8601 UTC."""
        columns = []
        for field in self.fields:
            column = table.column(field.name)
            if field.type == "timestamp":
                epoch_ms = column.cast(pa.int64()).fill_null(0).to_numpy().astype("datetime64[ms]")
                texts: list[str | None] = [f"{text}Z" for text in np.datetime_as_string(epoch_ms, unit="ms")]
                if column.null_count:
                    nulls = column.is_null().to_numpy(zero_copy_only=False)
                    texts = [None if null else text for text, null in zip(texts, nulls, strict=True)]
                columns.append(texts)
            else:
                columns.append(column.to_pylist())
        names = self.names
        values = [
            json.dumps(dict(zip(names, row, strict=True)), separators=(",", ":")).encode()
            for row in zip(*columns, strict=True)
        ]
        return table.column(self.key).to_pylist(), values

    def problems(self, record: Any) -> list[str]:
        """Why a decoded JSON record does not fit this schema (empty when it does)."""
        if not isinstance(record, dict):
            return [f"expected a JSON object, got {type(record).__name__}"]
        found = []
        for field in self.fields:
            value = record.get(field.name)
            if value is None:
                if not field.nullable:
                    found.append(f"{field.name}: missing")
            elif not _fits(value, field.type):
                found.append(f"{field.name}: expected {field.type}, got {value!r}")
        unknown = sorted(set(record) - set(self.names))
        if unknown:
            found.append(f"unknown fields: {', '.join(unknown)}")
        return found

    def decode(self, payload: bytes) -> dict[str, Any]:
        """JSON bytes to a record with every field (an absent nullable one as None) and timestamps as
        datetimes; ValueError names what is wrong."""
        try:
            record = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"not valid JSON: {error}") from None
        problems = self.problems(record)
        if problems:
            raise ValueError(f"{self.tag}: " + "; ".join(problems))
        record = {field.name: record.get(field.name) for field in self.fields}
        for field in self.fields:
            if field.type == "timestamp" and record[field.name] is not None:
                record[field.name] = parse_timestamp(record[field.name])
        return record


def _fits(value: Any, kind: FieldType) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "double":
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    try:
        parse_timestamp(value)
    except (TypeError, ValueError):
        return False
    return True


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, as `encode` writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


_LOCATION = (
    Field("city", "string", "city name"),
    Field("country", "string", "ISO 3166 alpha-2 country code"),
    Field("lat", "double", "latitude, degrees"),
    Field("lon", "double", "longitude, degrees"),
)

USER = RecordSchema(
    name="user",
    version=1,
    key="user_id",
    fields=(
        Field("user_id", "string", "stable user (card holder) id"),
        Field("age", "int", "age in years"),
        Field("gender", "string", "F, M or X"),
        *_LOCATION,
        Field("signup_date", "timestamp", "when the account was opened"),
        Field("updated_at", "timestamp", "when this version of the record took effect (latest wins)"),
    ),
)

MERCHANT = RecordSchema(
    name="merchant",
    version=1,
    key="merchant_id",
    fields=(
        Field("merchant_id", "string", "stable merchant (terminal) id"),
        Field("name", "string", "trading name"),
        Field("category", "string", "merchant category, e.g. grocery or electronics"),
        *_LOCATION,
        Field("created_at", "timestamp", "when the merchant joined the network"),
        Field("updated_at", "timestamp", "when this version of the record took effect (latest wins)"),
    ),
)

TRANSACTION = RecordSchema(
    name="transaction",
    version=2,
    key="user_id",
    fields=(
        Field("transaction_id", "string", "unique id"),
        Field("user_id", "string", "the paying user"),
        Field("merchant_id", "string", "the merchant paid"),
        Field("timestamp", "timestamp", "event time"),
        Field("amount", "double", "amount in `currency`"),
        Field("currency", "string", "ISO 4217 code"),
        Field("channel", "string", "`in_store` (card present, at the merchant's location) or `online`"),
        Field("device_ip", "string", "IP address of the paying device"),
        Field(
            "session_id",
            "string",
            "the browsing session an online payment's checkout ended (`sessions` topic), if known",
            nullable=True,
        ),
        Field(
            "is_fraud",
            "bool",
            "ground truth where the source knows it (the simulator); for evaluation only, never a label "
            "or a feature: labels come from the `labels` topic",
            nullable=True,
        ),
        Field(
            "fraud_scenario",
            "string",
            "which simulated scenario produced the fraud; for evaluation only, never a feature",
            nullable=True,
        ),
    ),
)

PRODUCT = RecordSchema(
    name="product",
    version=1,
    key="product_id",
    fields=(
        Field("product_id", "string", "stable product id"),
        Field("name", "string", "what the shop calls it"),
        Field("category", "string", "the category of the online merchants that sell it"),
        Field("price", "double", "list price"),
    ),
)

SESSION_EVENTS = ("session_start", "signup", "login", "search", "product_view", "add_to_cart",
                  "address_change", "password_change", "checkout")  # fmt: skip

SESSION_EVENT = RecordSchema(
    name="session_event",
    version=1,
    key="session_id",
    fields=(
        Field("event_id", "string", "unique id"),
        Field("session_id", "string", "the browsing session (an online payment's checkout is in one)"),
        Field("user_id", "string", "the account browsing (the one a `signup` opens)"),
        Field("event_type", "string", f"one of {', '.join(SESSION_EVENTS)}"),
        Field("event_time", "timestamp", "event time"),
        Field("device_ip", "string", "IP address of the browsing device"),
        Field("product_id", "string", "the product viewed, put in the cart or bought", nullable=True),
        Field("category", "string", "the product's category", nullable=True),
        *(
            replace(f, doc="the payment a `checkout` made", nullable=True)
            for f in TRANSACTION.fields_named("transaction_id")
        ),
    ),
)
"""A customer's browsing before an online payment: a clickstream event."""

CHARGEBACK, REVIEW = "chargeback", "review"
"""The sources of a label: the card holder's bank, or an analyst reviewing an alert."""

LABEL = RecordSchema(
    name="label",
    version=1,
    key="transaction_id",
    fields=(
        *TRANSACTION.fields_named("transaction_id"),
        Field(
            "merchant_id", "string", "the transaction's merchant (none in a dataset without)", nullable=True
        ),
        Field(
            "event_time",
            "timestamp",
            "the transaction's event time (none in a dataset without)",
            nullable=True,
        ),
        Field("is_fraud", "bool", "fraud (true) or legitimate (false); the latest report wins"),
        Field("source", "string", "`chargeback` (from the card holder's bank) or `review` (an analyst)"),
        Field("reported_at", "timestamp", "when the label became known: features use it from then on"),
    ),
)
"""A transaction's label, reported after the fact. The risk features and the training sets read labels
from here, never from the transaction."""

ALERT = RecordSchema(
    name="alert",
    version=1,
    key="transaction_id",
    fields=(
        Field("alert_id", "string", "derived from transaction_id and model version: a replay repeats it"),
        *TRANSACTION.fields_named("transaction_id"),
        # An imported dataset may have no users, merchants, amounts or times: those stay empty.
        *(
            replace(field, nullable=True)
            for field in TRANSACTION.fields_named("user_id", "merchant_id", "amount", "currency")
        ),
        Field("event_time", "timestamp", "the transaction's event time", nullable=True),
        Field("score", "double", "fraud probability from the model"),
        Field("threshold", "double", "the model's operating threshold; score >= threshold alerts"),
        Field("model_name", "string", "registered model name"),
        Field("model_version", "string", "registered model version"),
        Field("reasons", "strings", "what drove the score, most important first, in words"),
        Field("merchant_category", "string", "the merchant's category", nullable=True),
        Field("country", "string", "the merchant's country", nullable=True),
        Field("lat", "double", "where the payment happened (merchant location)", nullable=True),
        Field("lon", "double", "where the payment happened (merchant location)", nullable=True),
        Field("scored_at", "timestamp", "when the micro-batch that scored it was planned"),
    ),
)


class Measure(StrEnum):
    """What an aggregate counts."""

    TOP_PRODUCTS = "top_products"
    """purchases per product, in payments not flagged as fraud"""
    ALERTS = "alerts"


AGGREGATE = RecordSchema(
    name="aggregate",
    version=1,
    key="aggregate_id",
    fields=(
        Field("aggregate_id", "string", "measure/window start/rank: the latest message per id is the figure"),
        Field("measure", "string", f"one of {', '.join(Measure)}"),
        Field("window_start", "timestamp", "the event-time window, start included"),
        Field("window_end", "timestamp", "the event-time window, end excluded"),
        Field("rank", "int", "1 for the window's most bought product (and for its alert count)"),
        *(replace(f, nullable=True) for f in SESSION_EVENT.fields_named("product_id")),
        Field("count", "int", "purchases of the product, or alerts, in the window so far"),
        Field("updated_at", "timestamp", "when the micro-batch that last changed it was planned"),
    ),
)
"""A live figure per event-time window, computed by the streaming job as payments are scored."""

REVIEW_LABEL = RecordSchema(
    name="review_label",
    version=1,
    key="transaction_id",
    fields=(
        *TRANSACTION.fields_named("transaction_id"),
        Field("is_fraud", "bool", "the analyst's verdict: confirmed fraud (true) or false positive (false)"),
        Field("reviewed_at", "timestamp", "when the verdict was given"),
        Field("model_version", "string", "the model version whose alert was reviewed"),
    ),
)
"""Analyst-confirmed labels exported by the alert service; retraining reads them (feedback loop)."""
