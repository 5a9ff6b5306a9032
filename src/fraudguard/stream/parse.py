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
from fraudguard.spark import spark_schema

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


def _as(raw: Column, field: Field) -> Column:
    """The field's value in its Spark type (null where missing or of another type), from its VARIANT."""
    value = F.try_variant_get(raw, "$", _SPARK_TYPES[field.type])
    return F.to_timestamp(value) if field.type == "timestamp" else value


def typed(document: Column, field: Field) -> Column:
    """The field's value in its Spark type (null where missing or of another type)."""
    return _as(F.try_variant_get(document, f"$.{field.name}", "variant"), field)


def _field_problem(raw: Column, field: Field) -> Column:
    kind = F.schema_of_variant(raw)
    missing = raw.isNull() | (kind == "VOID")
    accepted = F.lit(False)
    for name in _JSON_TYPES[field.type]:
        accepted = accepted | (kind.startswith(name + "(") if name == "DECIMAL" else kind == name)
    value = _as(raw, field)
    if field.type == "int":
        accepted = accepted & F.try_variant_get(raw, "$", "bigint").between(-_INT32, _INT32 - 1)
    if field.type == "double":
        accepted = accepted & ~F.isnan(value) & (F.abs(value) != float("inf"))
    if field.type == "timestamp":
        text = F.try_variant_get(raw, "$", "string")
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


def _problem(schema: RecordSchema, value: Column, document: Column, keys: Column) -> Column:
    """Null for a valid message, else every reason it is not, prefixed with the schema tag. The
    fields' VARIANTs are the columns `_raw(name)`; `keys` are the top-level keys of a JSON object (null
    for any other JSON)."""
    known = F.array(*(F.lit(name) for name in schema.names))
    unknown = F.array_except(F.coalesce(keys, F.array().cast("array<string>")), known)
    fields = F.concat_ws(
        "; ",
        *(_field_problem(F.col(_raw(field.name)), field) for field in schema.fields),
        F.when(F.size(unknown) > 0, F.concat(F.lit("unknown fields: "), F.array_join(unknown, ", "))),
    )
    reason = (
        F.when(value.isNull(), F.lit("no value"))
        .when(~F.is_valid_utf8(value.cast("string")), F.lit("not valid UTF-8"))
        .when(document.isNull(), F.lit("not valid JSON"))
        .when(keys.isNull(), F.lit("expected a JSON object"))
        .otherwise(F.nullif(fields, F.lit("")))
    )
    return F.when(reason.isNotNull(), F.concat(F.lit(f"{schema.tag}: "), reason))


def _raw(name: str) -> str:
    return f"_raw_{name}"


def _keys(value: Column) -> Column:
    """Read from the text: serialising the parsed document again would cost more than parsing it."""
    return F.json_object_keys(value.cast("string"))


def records(schema: RecordSchema, value: Column) -> list[Column]:
    """The schema's fields (typed) of messages known to be valid."""
    document = _json(value)
    return [typed(document, field).alias(field.name) for field in schema.fields]


def parse_topic(raw: DataFrame, schema: RecordSchema, scored: RecordSchema = TRANSACTION) -> DataFrame:
    """Rows of one topic's Kafka source as: the source columns, `kafka_ts`, `kind` (the schema
    name), `problem`, `value` (the bytes, kept where later steps need them: records other than
    the scored ones, and rejects) and the fields of the `scored` records (null unless a valid one).

    Each message is parsed once and each field extracted once, in projections of their own (Spark
    does not inline an expression used more than once into the next projection)."""
    document = raw.select(
        *SOURCE_COLUMNS,
        F.col("timestamp").alias("kafka_ts"),
        "value",
        _json(F.col("value")).alias("_document"),
    )
    fields = document.select(
        "*",
        *(
            F.try_variant_get("_document", f"$.{f.name}", "variant").alias(_raw(f.name))
            for f in schema.fields
        ),
        _keys(F.col("value")).alias("_keys"),
    )
    checked = fields.withColumn(PROBLEM, _problem(schema, F.col("value"), F.col("_document"), F.col("_keys")))
    is_scored = F.lit(schema is scored) & F.col(PROBLEM).isNull()
    types = spark_schema(scored)

    def scored_field(field: Field) -> Column:
        value = _as(F.col(_raw(field.name)), field) if schema is scored else F.lit(None)
        return F.when(is_scored, value).cast(types[field.name].dataType).alias(field.name)

    return checked.select(
        *SOURCE_COLUMNS,
        "kafka_ts",
        F.lit(schema.name).alias(KIND),
        PROBLEM,
        F.when(~is_scored, F.col("value")).alias("value"),
        *(scored_field(field) for field in scored.fields),
    )


def parse_inputs(sources: list[tuple[DataFrame, RecordSchema]]) -> DataFrame:
    """Every topic's rows (`parse_topic`), in one frame."""
    parsed = [parse_topic(raw, schema) for raw, schema in sources]
    frame = parsed[0]
    for other in parsed[1:]:
        frame = frame.unionByName(other)
    return frame
