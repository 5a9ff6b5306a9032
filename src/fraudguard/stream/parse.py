"""Kafka rows to typed records in Spark, with the reason a message is rejected (it becomes a dead letter).

One rule, from the record schemas (`fraudguard.schemas`), applied once, in Spark expressions on the
executors: UTF-8 text holding one JSON object whose fields are all known, of the schema's types (JSON
text for text, an integral number for `int`, a finite number for `double`, `true`/`false` for `bool`,
ISO-8601 text with a time zone for `timestamp`), without NUL characters, required fields present and
not null. The JSON is parsed once into Spark's VARIANT type, whose per-field type tells a number from
text.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudguard.schemas import TRANSACTION, Field, RecordSchema

KIND, PROBLEM = "kind", "problem"
SOURCE_COLUMNS = ("topic", "partition", "offset", "key")

_JSON_TYPES = {
    "string": ("STRING",),
    "int": ("BIGINT", "INT", "SMALLINT", "TINYINT"),
    "double": ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL"),
    "bool": ("BOOLEAN",),
    "timestamp": ("STRING",),
    "strings": ("ARRAY<STRING>", "ARRAY<VOID>"),
}
_SPARK_TYPES = {"string": "string", "int": "int", "double": "double", "bool": "boolean",
                "timestamp": "string", "strings": "array<string>"}  # fmt: skip
_EXPECTED = {"double": "a finite number", "int": "an integer", "timestamp": "an ISO-8601 time with a zone"}
_ISO_WITH_ZONE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$"
_INT32 = 2**31


def _json(value: Column) -> Column:
    return F.try_parse_json(value.cast("string"))


def _raw(document: Column, name: str) -> Column:
    return F.try_variant_get(document, f"$.{name}", "variant")


def typed(document: Column, field: Field) -> Column:
    """The field's value in its Spark type (null where missing or of another type)."""
    value = F.try_variant_get(document, f"$.{field.name}", _SPARK_TYPES[field.type])
    return F.to_timestamp(value) if field.type == "timestamp" else value


def _field_problem(document: Column, field: Field) -> Column:
    raw = _raw(document, field.name)
    kind = F.schema_of_variant(raw)
    missing = raw.isNull() | (kind == "VOID")
    accepted = F.lit(False)
    for name in _JSON_TYPES[field.type]:
        accepted = accepted | (kind.startswith(name + "(") if name == "DECIMAL" else kind == name)
    value = typed(document, field)
    if field.type == "int":
        accepted = accepted & F.try_variant_get(document, f"$.{field.name}", "bigint").between(
            -_INT32, _INT32 - 1
        )
    if field.type == "double":
        accepted = accepted & ~F.isnan(value) & (F.abs(value) != float("inf"))
    if field.type == "timestamp":
        text = F.try_variant_get(document, f"$.{field.name}", "string")
        accepted = accepted & text.rlike(_ISO_WITH_ZONE) & value.isNotNull()
    shown = F.substring(F.to_json(raw), 1, 80)
    expected = _EXPECTED.get(field.type, field.type)
    wrong = F.concat(F.lit(f"{field.name}: expected {expected}, got "), shown)
    nul = F.lit(f"{field.name}: contains a NUL character")
    checks = F.when(missing, F.lit(None) if field.nullable else F.lit(f"{field.name}: missing"))
    checks = checks.when(~accepted, wrong)
    if field.type == "string":
        checks = checks.when(F.instr(value, "\x00") > 0, nul)
    return checks


def problem(schema: RecordSchema, value: Column) -> Column:
    """Null for a valid message (`value`: its bytes), else every reason it is not, prefixed with the
    schema tag."""
    document = _json(value)
    known = F.array(*(F.lit(name) for name in schema.names))
    unknown = F.array_except(_keys(document), known)
    fields = F.concat_ws(
        "; ",
        *(_field_problem(document, field) for field in schema.fields),
        F.when(F.size(unknown) > 0, F.concat(F.lit("unknown fields: "), F.array_join(unknown, ", "))),
    )
    reason = (
        F.when(value.isNull(), F.lit("no value"))
        .when(~F.is_valid_utf8(value.cast("string")), F.lit("not valid UTF-8"))
        .when(document.isNull(), F.lit("not valid JSON"))
        .when(~F.schema_of_variant(document).startswith("OBJECT<"), F.lit("expected a JSON object"))
        .otherwise(F.nullif(fields, F.lit("")))
    )
    return F.when(reason.isNotNull(), F.concat(F.lit(f"{schema.tag}: "), reason))


def _keys(document: Column) -> Column:
    return F.coalesce(F.json_object_keys(F.to_json(document)), F.array().cast("array<string>"))


def records(schema: RecordSchema, value: Column) -> list[Column]:
    """The schema's fields (typed) of messages known to be valid."""
    document = _json(value)
    return [typed(document, field).alias(field.name) for field in schema.fields]


def parse_inputs(raw: DataFrame, schemas: dict[str, RecordSchema]) -> DataFrame:
    """Rows of the Kafka source (`schemas` maps topic name to record schema) as: the source columns,
    `kafka_ts`, `kind` (the schema name), `problem`, `value` (the bytes, kept where later steps need
    them: dimension records and rejects) and the transaction fields (null unless a valid transaction)."""
    kind, reason = F.lit(None).cast("string"), F.lit("unknown topic")
    for topic, schema in schemas.items():
        kind = F.when(F.col("topic") == topic, F.lit(schema.name)).otherwise(kind)
        reason = F.when(F.col("topic") == topic, problem(schema, F.col("value"))).otherwise(reason)
    rows = raw.select(
        *SOURCE_COLUMNS,
        F.col("timestamp").alias("kafka_ts"),
        "value",
        kind.alias(KIND),
        reason.alias(PROBLEM),
    )
    is_transaction = (F.col(KIND) == TRANSACTION.name) & F.col(PROBLEM).isNull()
    document = _json(F.col("value"))
    return rows.select(
        *SOURCE_COLUMNS,
        "kafka_ts",
        KIND,
        PROBLEM,
        F.when(~is_transaction, F.col("value")).alias("value"),
        *(F.when(is_transaction, typed(document, field)).alias(field.name) for field in TRANSACTION.fields),
    )
