"""Kafka rows to records in Spark, with the reason a message is rejected (it becomes a dead letter).

The rules come from the record schemas (`fraudguard.schemas`): not JSON, not a JSON object, a required
field missing or null, a value of the wrong type, a number that is not finite. Spark's JSON reader
accepts a JSON number where text is expected (it becomes the text "7") and ignores unknown fields
(newer producers may add some): both are let through.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraudguard.schemas import TRANSACTION, RecordSchema

KIND, PROBLEM = "kind", "problem"
SOURCE_COLUMNS = ("topic", "partition", "offset", "key")


CORRUPT = "_corrupt_record"


def parsed(schema: RecordSchema, text: Column) -> Column:
    """The record as a struct, with `CORRUPT` holding the text when Spark could not read it (not JSON,
    or a value of the wrong type)."""
    return F.from_json(text, schema.spark().add(CORRUPT, "string"), {"columnNameOfCorruptRecord": CORRUPT})


def problem(schema: RecordSchema, text: Column) -> Column:
    """Null for a valid record, else why not. A cheap test first (one parse); the reasons are worked
    out only for the messages that fail it."""
    record = parsed(schema, text)
    valid = record.isNotNull() & record[CORRUPT].isNull()
    for field in schema.fields:
        if not field.nullable:
            valid = valid & record[field.name].isNotNull()
        if field.type == "double":
            value = record[field.name]
            valid = valid & (value.isNull() | (~F.isnan(value) & (F.abs(value) != float("inf"))))
    unexplained = F.lit(f"{schema.tag}: does not fit the schema")
    return F.when(~valid, F.coalesce(rejection(schema, text), unexplained))


def rejection(schema: RecordSchema, text: Column) -> Column:
    """Why the JSON `text` does not fit `schema` (null when it does), prefixed with the schema tag."""
    record = parsed(schema, text)  # the same expression as `problem`'s check: Spark parses once
    checks = []
    for field in schema.fields:
        raw, value = F.get_json_object(text, f"$.{field.name}"), record[field.name]
        if not field.nullable:
            checks.append(F.when(raw.isNull(), F.lit(f"{field.name}: missing")))
        wrong = raw.isNotNull() & value.isNull()
        if field.type == "double":
            wrong = wrong | F.isnan(value) | F.abs(value).eqNullSafe(float("inf"))
        expected = "a finite number" if field.type == "double" else field.type
        checks.append(F.when(wrong, F.concat(F.lit(f"{field.name}: expected {expected}, got "), raw)))
    fields = F.concat_ws("; ", *checks)
    return F.concat(
        F.lit(f"{schema.tag}: "),
        F.when(text.isNull() | F.get_json_object(text, "$").isNull(), F.lit("not valid JSON"))
        .when(~F.ltrim(text).startswith("{"), F.lit("expected a JSON object"))
        .otherwise(F.nullif(fields, F.lit(""))),
    )


def parse_inputs(raw: DataFrame, schemas: dict[str, RecordSchema]) -> DataFrame:
    """Rows of the Kafka source (`schemas` maps topic name to record schema) as: the source columns,
    `kind` (the schema name), `problem`, `kafka_ts`, the transaction fields (null unless a valid
    transaction), `value` (kept only where later steps need the bytes: dimension
    records and rejects)."""
    text = F.col("value").cast("string")
    kind, reason = F.lit(None).cast("string"), F.lit("unknown topic")
    for topic, schema in schemas.items():
        kind = F.when(F.col("topic") == topic, F.lit(schema.name)).otherwise(kind)
        reason = F.when(F.col("topic") == topic, problem(schema, text)).otherwise(reason)
    rows = raw.select(
        *SOURCE_COLUMNS,
        F.col("timestamp").alias("kafka_ts"),
        "value",
        kind.alias(KIND),
        reason.alias(PROBLEM),
        parsed(TRANSACTION, text).alias("_transaction"),  # the same parse as the check's: computed once
    )
    is_transaction = (F.col(KIND) == TRANSACTION.name) & F.col(PROBLEM).isNull()
    record = F.col("_transaction")
    return rows.select(
        *SOURCE_COLUMNS,
        "kafka_ts",
        KIND,
        PROBLEM,
        F.when(~is_transaction, F.col("value")).alias("value"),
        *(F.when(is_transaction, record[name]).alias(name) for name in TRANSACTION.names),
    )
