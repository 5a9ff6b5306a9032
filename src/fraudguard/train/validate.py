"""Checks a training set passes before a model is fit on it; a failure names the check and the numbers.

A bad night (an empty topic, a broken generator, labels flipped by a bug) must stop the retraining
with a clear reason instead of registering a model trained on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudguard.config import Settings
from fraudguard.schemas import LABEL, MERCHANT, TRANSACTION, USER, RecordSchema
from fraudguard.spark import spark_schema
from fraudguard.train.trainer import RowSplit, Split

SPLIT_PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


class DataValidationError(ValueError):
    def __init__(self, failed: list[Check]) -> None:
        self.failed = failed
        super().__init__(
            "training set failed validation: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
        )


def validate(
    transactions: DataFrame, users: DataFrame, merchants: DataFrame, labels: DataFrame, settings: Settings
) -> list[Check]:
    """Every check's outcome; `require_valid` raises on the failed ones. `transactions` carry the
    labels' verdicts (`features.batch.with_labels`)."""
    checks = [
        _schema(TRANSACTION, transactions),
        _schema(USER, users),
        _schema(MERCHANT, merchants),
        _schema(LABEL, labels),
    ]
    if not all(check.passed for check in checks):
        return checks  # the other checks would fail on missing columns
    bounds = settings.training
    required = [f.name for f in TRANSACTION.fields if not f.nullable]
    day = F.to_date("timestamp")
    row = transactions.agg(
        F.count("*").alias("rows"),
        F.sum(F.col("is_fraud").cast("long")).alias("frauds"),
        F.countDistinct("transaction_id").alias("ids"),
        F.min(day).alias("first"),
        F.max(day).alias("last"),
        *(F.sum(F.col(name).isNull().cast("long")).alias(f"null_{name}") for name in required),
    ).collect()[0]
    rows, frauds = row["rows"], row["frauds"] or 0
    checks.append(
        Check(
            "row_count",
            rows >= bounds.min_transactions,
            f"{rows:,} transactions (minimum {bounds.min_transactions:,})",
        )
    )
    share = frauds / rows if rows else 0.0
    checks.append(
        Check(
            "fraud_share",
            bounds.min_fraud_share <= share <= bounds.max_fraud_share,
            f"{share:.4%} fraud ({frauds:,} of {rows:,}); bounds {bounds.min_fraud_share:.2%}.."
            f"{bounds.max_fraud_share:.2%}",
        )
    )
    nulls = {name: row[f"null_{name}"] for name in required if row[f"null_{name}"]}
    checks.append(
        Check("nulls", not nulls, ", ".join(f"{n}: {c:,} null" for n, c in nulls.items()) or "no nulls")
    )
    duplicates = rows - row["ids"]
    checks.append(Check("duplicates", duplicates == 0, f"{duplicates:,} repeated transaction ids"))
    unknown = _unknown_entities(transactions, users, merchants)
    unknown_share = unknown / rows if rows else 0.0
    checks.append(
        Check(
            "unknown_entities",
            unknown_share <= bounds.max_unknown_entity_share,
            f"{unknown:,} transactions ({unknown_share:.2%}) without a user or merchant record "
            f"(at most {bounds.max_unknown_entity_share:.2%})",
        )
    )
    if rows:
        checks.append(_split(transactions, row["first"], row["last"], settings))
    return checks


def require_valid(checks: list[Check]) -> list[dict]:
    failed = [check for check in checks if not check.passed]
    if failed:
        raise DataValidationError(failed)
    return [asdict(check) for check in checks]


def _schema(schema: RecordSchema, frame: DataFrame) -> Check:
    actual = {field.name: field.dataType for field in frame.schema.fields}
    problems = [
        f"{field.name} missing"
        if field.name not in actual
        else f"{field.name} is {actual[field.name].simpleString()}"
        for field in spark_schema(schema).fields
        if actual.get(field.name) != field.dataType
    ]
    return Check(f"schema_{schema.name}", not problems, "; ".join(problems) or f"matches {schema.tag}")


def _unknown_entities(transactions: DataFrame, users: DataFrame, merchants: DataFrame) -> int:
    known_users = users.select("user_id").distinct().withColumn("_user", F.lit(True))
    known_merchants = merchants.select("merchant_id").distinct().withColumn("_merchant", F.lit(True))
    joined = transactions.select("user_id", "merchant_id").join(known_users, "user_id", "left")
    joined = joined.join(known_merchants, "merchant_id", "left")
    return joined.where(F.col("_user").isNull() | F.col("_merchant").isNull()).count()


def _split(transactions: DataFrame, first, last, settings: Settings) -> Check:
    """Enough days for train/validation/delay/test, and every part used has frauds to learn or judge."""
    try:
        split = Split.from_days(first, last, settings.model, settings.features)
    except ValueError as error:
        return Check("split", False, str(error))
    day = F.to_date("timestamp")
    parts = {}
    for part in SPLIT_PARTS:
        low, high = getattr(split, part)
        inside = (day >= F.lit(low)) & (day <= F.lit(high))
        parts[part] = (F.sum(inside.cast("long")), F.sum((inside & F.col("is_fraud")).cast("long")))
    sums = [
        c.alias(f"{p}_{k}")
        for p, pair in parts.items()
        for k, c in zip(("rows", "frauds"), pair, strict=True)
    ]
    counts = transactions.agg(*sums).collect()[0]
    detail = ", ".join(
        f"{p} {counts[f'{p}_rows'] or 0:,} rows / {counts[f'{p}_frauds'] or 0:,} frauds" for p in parts
    )
    passed = all((counts[f"{p}_frauds"] or 0) > 0 for p in parts)
    return Check("split", passed, detail)


def validate_imported(rows: DataFrame, split: RowSplit, settings: Settings) -> list[Check]:
    """An imported dataset's checks: enough rows, unique ids, and frauds in every part of its split."""
    counts = rows.agg(F.count("*").alias("rows"), F.countDistinct("transaction_id").alias("ids")).collect()[0]
    minimum = settings.training.min_transactions
    checks = [
        Check("row_count", counts["rows"] >= minimum, f"{counts['rows']:,} rows (minimum {minimum:,})"),
        Check(
            "duplicates", counts["rows"] == counts["ids"], f"{counts['rows'] - counts['ids']:,} repeated ids"
        ),
    ]
    frauds = {part: split.rows(rows, part).where("is_fraud").count() for part in SPLIT_PARTS}
    detail = ", ".join(f"{part} {count:,}" for part, count in frauds.items())
    checks.append(Check("frauds_per_part", all(frauds.values()), f"frauds: {detail}"))
    return checks
