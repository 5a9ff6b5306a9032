"""One micro-batch of the scoring job (Spark's foreachBatch): Spark DataFrame operations that run on
the executors; the driver only plans them and reads a few counts.

    rows (parsed; online payments paired with their session's events (`session_join`); per-user
          features from the state store)
      ├─ rejects ───────────────────────────────────────────────→ dead-letter topic (Kafka sink)
      ├─ user / merchant records, labels ─→ record tables (every version, every label)
      └─ transactions ─ session features of their pairs ─ as-of user/merchant join ─ label-delayed
           risk ─ row and travel features (`features`, the functions training uses) ─ champion
           PipelineModel ─┬→ alerts topic
                          ├→ scored history
                          └→ counts per window (`aggregates`) → aggregates topic

Exactly once, by replay: Spark replays an uncommitted micro-batch with the same id, the same input
and the per-user state from before it. Everything written here is keyed by that id or by the
transaction: the record tables and the history replace the batch's partitions, and the alerts,
aggregates and dead letters are produced again with the same key and content, because the batch's
plan (when it was scored, by which model version) is stored before anything is written, and reused.

Late dimensions: a transaction whose user or merchant record has not arrived is scored with those
features missing (the model's missing-value path) and `user_known` / `merchant_known` false, and
counted.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudguard.config import Settings, TopicRole
from fraudguard.features.batch import (
    HOURS_PER_DAY,
    RISK_FEATURES,
    RISK_KEYS,
    day_number,
    day_of_hour,
    fraud_reports,
    hour_number,
    hourly_counts,
    risk_horizon,
    risk_rates,
    with_entities,
    with_rates,
    with_row_features,
    with_travel,
)
from fraudguard.features.records import MERCHANT_COLUMNS, USER_COLUMNS
from fraudguard.features.row import ROW_FEATURES, TRAVEL_FEATURES
from fraudguard.features.sessions import SESSION_FEATURES, session_features
from fraudguard.features.user_history import STORE_IDS, value_names
from fraudguard.kafka import dead_letter
from fraudguard.kafka.java_client import spark_kafka_options
from fraudguard.schemas import LABEL, MERCHANT, TRANSACTION, USER, Measure, RecordSchema
from fraudguard.spark import spark_schema
from fraudguard.stream.aggregates import WindowTotals, summed
from fraudguard.stream.alerts import AlertMaker
from fraudguard.stream.champion import ChampionSource, ScoringModel
from fraudguard.stream.messages import KAFKA_ROWS
from fraudguard.stream.parse import KIND, PROBLEM, parse_inputs, records
from fraudguard.stream.progress import COUNTERS, BatchReport, Totals
from fraudguard.stream.session_join import BOUGHT, paired_retention_ms, session_rejects, with_session_events
from fraudguard.stream.sources import kafka_source
from fraudguard.stream.storage import Storage
from fraudguard.stream.user_state import LATE, PRIMARY, ROLE, with_user_history
from fraudguard.train.pipeline import ANOMALY_SCORE

log = logging.getLogger("fraudguard.stream")

HISTORY_COLUMNS = tuple(
    dict.fromkeys(
        [
            *TRANSACTION.names,
            "kafka_ts",
            "topic",
            "partition",
            "offset",
            *USER_COLUMNS.values(),
            *MERCHANT_COLUMNS.values(),
            *value_names(),
            *STORE_IDS,
            *ROW_FEATURES,
            *TRAVEL_FEATURES,
            *RISK_FEATURES,
            *SESSION_FEATURES,
            BOUGHT,
            "user_known",
            "merchant_known",
            ANOMALY_SCORE,
            "score",
            "threshold",
            "alerted",
            "model_version",
            "scored_at",
        ]
    )
)
"""What the scored history keeps of each transaction: its fields, where it came from, every feature
value behind its score (for reviewers and audits), the score and the decision."""


@dataclass(frozen=True)
class Plan:
    """Decided once per micro-batch id and reused when Spark replays it."""

    scored_at: datetime
    model_version: str


def count_where(condition: Column) -> Column:
    return F.coalesce(F.sum(condition.cast("long")), F.lit(0))


INPUT_ROLES = (
    TopicRole.TRANSACTIONS,
    TopicRole.SESSIONS,
    TopicRole.USERS,
    TopicRole.MERCHANTS,
    TopicRole.LABELS,
)
"""The topics the world's scorer reads (`MicroBatchScorer.inputs`)."""


RETIRED_TABLES = ("daily_counts", "merchant_risk", "category_risk")
"""Tables of daily risk rates, which an earlier version kept: the hourly ones cannot be derived from them."""


SUPERSEDED_TABLES = ("merchant_hourly_risk",)
"""Day tables an earlier version wrote with fewer columns: deleted, and their days' rates computed again
from the hourly counts and labels, which are kept."""


class IncompatibleTables(RuntimeError):
    pass


class MicroBatchScorer:
    """Spark calls it with each micro-batch (`foreachBatch`)."""

    def __init__(self, spark: SparkSession, settings: Settings, models: ChampionSource | None = None) -> None:
        self.spark, self.settings = spark, settings
        self.models = models or ChampionSource(settings)
        self.storage = Storage(spark, settings.stream.state_uri)
        folder = f"{self.storage.base}/tables"
        kept = set(self.storage.children(folder))
        if retired := sorted(kept & set(RETIRED_TABLES)):
            raise IncompatibleTables(f"tables {', '.join(retired)}")
        for name in kept & set(SUPERSEDED_TABLES):
            self.storage.delete(f"{folder}/{name}")
        self.tables = RecordTables(self.storage)
        self.run_id = self._run_id()
        self.topics = {role: settings.topics.get(role).name for role in TopicRole}
        self.kafka = spark_kafka_options(settings)
        window_s = {Measure.TOP_PRODUCTS: settings.stream.top_products_window_s,
                    Measure.ALERTS: settings.stream.alerts_window_s}  # fmt: skip
        self.aggregates = WindowTotals(self.tables.window_counts, window_s)
        self.last: BatchReport | None = None
        self._totals: Totals | None = None
        self._cached: list[DataFrame] = []

    def inputs(self) -> DataFrame:
        """The query's input: one Kafka source per topic, the transactions capped at
        `max_rows_per_batch` (admission control), the other topics read in full every micro-batch,
        so that the records and browsing events come before the transactions that use them; online
        payments paired with their session's events; then each user's history from the state store."""
        stream = self.settings.stream

        def source(role: TopicRole, cap: int | None = None) -> DataFrame:
            return kafka_source(self.spark, self.settings, [self.topics[role]], cap)

        sessions = source(TopicRole.SESSIONS)
        transactions = with_session_events(
            parse_inputs([(source(TopicRole.TRANSACTIONS, stream.max_rows_per_batch), TRANSACTION)]),
            sessions,
            stream.session_wait_s,
        )
        record_topics = [(TopicRole.USERS, USER), (TopicRole.MERCHANTS, MERCHANT), (TopicRole.LABELS, LABEL)]
        others = parse_inputs([(source(role), schema) for role, schema in record_topics])
        others = others.unionByName(session_rejects(sessions))
        return with_user_history(
            transactions.unionByName(others, allowMissingColumns=True),
            int(stream.user_state_ttl_days * 86_400_000),
            paired_retention_ms(stream.session_wait_s),
        )

    def __call__(self, rows: DataFrame, batch_id: int) -> None:
        plan = self._plan(batch_id)
        model = self.models.version(plan.model_version)
        rows = rows.persist()
        try:
            report = self._score(rows, batch_id, plan, model)
        finally:
            rows.unpersist()
        before = self.totals()
        totals = Totals(**{key: getattr(before, key) + getattr(report, key) for key in COUNTERS})
        document = {"report": asdict(report), "totals": totals.model_dump()}
        self.storage.write_document(f"batches/{batch_id:012d}.report.json", document)
        self.storage.prune_documents("batches")
        self._totals, self.last = totals, report
        log.info("micro-batch scored", extra=asdict(report))

    def _score(self, rows: DataFrame, batch_id: int, plan: Plan, model: ScoringModel) -> BatchReport:
        laps = Laps()
        valid = F.col(PROBLEM).isNull()
        to_score = (F.col(KIND) == TRANSACTION.name) & valid & (F.col(ROLE) != LATE)
        scored_once = to_score & (F.col(ROLE) == PRIMARY)
        counts = rows.agg(
            count_where(scored_once).alias("transactions"),
            F.collect_set(F.when(scored_once, day_number())).alias("days"),
            count_where(F.col(ROLE) == LATE).alias("late_session_events"),
            count_where(~valid).alias("dead_letters"),
            count_where((F.col(KIND) == USER.name) & valid).alias("user_records"),
            count_where((F.col(KIND) == MERCHANT.name) & valid).alias("merchant_records"),
            count_where((F.col(KIND) == LABEL.name) & valid).alias("labels"),
        ).collect()[0]
        laps.lap("input")
        if counts["dead_letters"]:
            self._send(dead_letters(rows.where(~valid), plan.scored_at), TopicRole.DEAD_LETTER)
        laps.lap("dead_letters")
        for schema, count in ((USER, counts["user_records"]), (MERCHANT, counts["merchant_records"]),
                              (LABEL, counts["labels"])):  # fmt: skip
            table = self.tables.records[schema.name]
            if count:
                table.add(batch_id, rows.where((F.col(KIND) == schema.name) & valid)
                          .select(records(schema, F.col("value"))))  # fmt: skip
            table.compact(batch_id, spark_schema(schema))
        laps.lap("records")
        figures = dict.fromkeys(("alerts", "late_users", "late_merchants"), 0)
        if counts["transactions"]:
            try:
                days = sorted(counts["days"])
                figures = self._score_transactions(rows.where(to_score), days, batch_id, plan, model, laps)
            finally:
                for frame in self._cached:
                    frame.unpersist()
                self._cached.clear()
        return BatchReport(
            batch_id=batch_id,
            transactions=counts["transactions"],
            dead_letters=counts["dead_letters"],
            user_records=counts["user_records"],
            merchant_records=counts["merchant_records"],
            labels=counts["labels"],
            late_session_events=counts["late_session_events"],
            **figures,
            model_version=model.version,
            duration_s=laps.total(),
            steps_s=laps.seconds,
        )

    def _score_transactions(
        self, pairs: DataFrame, days: list[int], batch_id: int, plan: Plan, model: ScoringModel, laps: Laps
    ) -> dict[str, int]:
        """`pairs`: each transaction once per paired event (`ROLE` primary, then pair), or once, on
        `days` (`day_number`)."""
        online = pairs.where(F.col("session_id").isNotNull())
        sessions = session_features(online).join(
            online.groupBy("transaction_id").agg(F.max(BOUGHT).alias(BOUGHT)), "transaction_id"
        )
        primary = pairs.where(F.col(ROLE) == PRIMARY).drop(BOUGHT)
        transactions = primary.join(sessions, "transaction_id", "left")
        scored = self._featurized(transactions, days, batch_id).transform(scored_with(model, plan))
        if ANOMALY_SCORE not in scored.columns:  # a model without the isolation forest's input
            scored = scored.withColumn(ANOMALY_SCORE, F.lit(None).cast("double"))
        scored = scored.select(*HISTORY_COLUMNS).persist()
        self._cached.append(scored)
        figures = (
            scored.agg(
                count_where(F.col("alerted")).alias("alerts"),
                count_where(~F.col("user_known")).alias("late_users"),
                count_where(~F.col("merchant_known")).alias("late_merchants"),
                self.aggregates.earliest().alias("earliest_counted"),
            )
            .collect()[0]
            .asDict()
        )
        earliest_counted = figures.pop("earliest_counted")
        laps.lap("score")
        if figures["alerts"]:  # before the history: an analyst waits for the alerts, not for the history
            alert = AlertMaker(model.name, model.version, model.threshold, dict(model.importances),
                               dict(model.population), plan.scored_at)  # fmt: skip
            self._send(scored.where("alerted").mapInPandas(alert, KAFKA_ROWS), TopicRole.ALERTS)
        laps.lap("alerts")
        self._write_history(scored, batch_id)
        laps.lap("history")
        aggregates = self.aggregates.messages(scored, batch_id, plan.scored_at, earliest_counted)
        if aggregates is not None:
            self._send(aggregates, TopicRole.AGGREGATES)
        laps.lap("aggregates")
        return figures

    def _featurized(self, transactions: DataFrame, days: list[int], batch_id: int) -> DataFrame:
        """`features.batch.build_features` on a micro-batch: the record tables as of this batch, the
        risk rates of its days (`_rates`)."""
        users, merchants = self.tables.users(batch_id), self.tables.merchants(batch_id)
        joined = with_entities(transactions, users, merchants).withColumns(
            {
                "user_known": F.col("user_age").isNotNull(),
                "merchant_known": F.col("merchant_category").isNotNull(),
            }
        )
        joined = joined.persist()  # read by the hourly counts, then by the rest
        self._cached.append(joined)
        counts = self.tables.counts
        counts.add(batch_id, hourly_counts(joined))
        counts.compact(batch_id, HOURLY_COUNTS_SCHEMA)
        joined = with_rates(joined, *self._rates(batch_id, days, merchants))
        return with_travel(with_row_features(joined), merchants)

    def _rates(self, batch_id: int, days: list[int], merchants: DataFrame) -> tuple[DataFrame, DataFrame]:
        """The hourly risk rates of `days`, each day's computed once, by the first micro-batch with a
        transaction on that day, from the counts and labels then known: the labels of the days before
        it and the counts of the hours that end more than a day before it (`features.batch.early_window`),
        which come before it on the topics. Then kept: per micro-batch, the work is a lookup."""
        tables = self.tables
        missing = sorted(set(days) - tables.merchant_rates.days())
        if missing:
            delay = self.settings.features.label_delay_days
            hours = [day * HOURS_PER_DAY + hour for day in missing for hour in range(HOURS_PER_DAY)]
            horizon = risk_horizon(hours[0], delay)
            counts = tables.counts.read(batch_id, HOURLY_COUNTS_SCHEMA).where(F.col("_hour") >= horizon)
            labels = tables.labels(batch_id).where(hour_number("event_time") >= horizon)
            rates = risk_rates(counts, fraud_reports(labels, merchants), self.settings.features, hours)
            merchant, category = (r.withColumn("_day", day_of_hour(F.col("_hour"))) for r in rates)
            tables.category_rates.write(category)
            tables.merchant_rates.write(merchant)  # last: its days say which days are complete
        return tables.merchant_rates.read(days), tables.category_rates.read(days)

    def _write_history(self, scored: DataFrame, batch_id: int) -> None:
        """Parquet partitioned by day (of the event, or of the scoring when there is no event time) and
        micro-batch (named by the checkpoint's run, whose batch ids
        start again after a `stream reset`); a replay replaces its own partitions only."""
        day = F.date_format("timestamp" if "timestamp" in scored.columns else "scored_at", "yyyy-MM-dd")
        (
            scored.withColumns(
                {
                    "day": day,
                    "batch": F.lit(f"{self.run_id}-{batch_id:06d}"),
                }
            )
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy("day", "batch")
            .parquet(str(self.settings.stream.scored_history_dir))
        )

    def _send(self, messages: DataFrame, role: TopicRole) -> None:
        """Produce from the executors (Kafka sink); a failure fails the micro-batch, which Spark replays."""
        messages.write.format("kafka").options(**self.kafka).option("topic", self.topics[role]).save()

    def _run_id(self) -> str:
        """This checkpoint's id, kept beside it: new after a reset, the same on every restart."""
        saved = self.storage.read_document("run.json")
        if saved is None:
            saved = {"id": uuid.uuid4().hex[:12]}
            self.storage.write_document("run.json", saved)
        return saved["id"]

    def _plan(self, batch_id: int) -> Plan:
        name = f"batches/{batch_id:012d}.plan.json"
        saved = self.storage.read_document(name)
        if saved is not None:
            return Plan(datetime.fromisoformat(saved["scored_at"]), saved["model_version"])
        plan = Plan(datetime.now(UTC).replace(microsecond=0), self.models.current().version)
        self.storage.write_document(
            name, {"scored_at": plan.scored_at.isoformat(), "model_version": plan.model_version}
        )
        return plan

    def totals(self) -> Totals:
        """Counters over the job's whole life (they survive restarts with the batch reports)."""
        if self._totals is None:
            reports = [
                n for n in self.storage.children(f"{self.storage.base}/batches") if n.endswith(".report.json")
            ]
            document = self.storage.read_document(f"batches/{reports[-1]}") if reports else None
            self._totals = Totals.model_validate(document["totals"]) if document else Totals()
        return self._totals


HOURLY_COUNTS_SCHEMA = "merchant_id string, merchant_category string, _hour bigint, _count double"


class RecordTables:
    """The stream's tables: user and merchant record versions, labels, hourly transaction counts, the
    hourly risk rates by day, the live aggregates' counts per window."""

    def __init__(self, storage: Storage) -> None:
        self.records = {
            schema.name: storage.table(f"{schema.name}s", _versions(schema))
            for schema in (USER, MERCHANT, LABEL)
        }
        self.counts = storage.table(
            "hourly_counts",
            lambda rows: rows.groupBy(*RISK_KEYS, "_hour").agg(F.sum("_count").alias("_count")),
        )
        self.window_counts = storage.table("window_counts", summed)
        self.merchant_rates = storage.day_table("merchant_hourly_rates")
        self.category_rates = storage.day_table("category_hourly_risk")

    def users(self, batch_id: int) -> DataFrame:
        return _versions(USER)(self.records[USER.name].read(batch_id, spark_schema(USER)))

    def merchants(self, batch_id: int) -> DataFrame:
        return _versions(MERCHANT)(self.records[MERCHANT.name].read(batch_id, spark_schema(MERCHANT)))

    def labels(self, batch_id: int) -> DataFrame:
        return _versions(LABEL)(self.records[LABEL.name].read(batch_id, spark_schema(LABEL)))


def _versions(schema: RecordSchema):
    """One row per record version or label (a producer may send the same one again)."""
    identity = [schema.key, "reported_at", "source"] if schema is LABEL else [schema.key, "updated_at"]
    return lambda rows: rows.dropDuplicates(identity)


def record_tables(spark: SparkSession, settings: Settings) -> tuple[DataFrame, DataFrame]:
    """Every user and merchant record version the stream has seen (for the training set)."""
    tables = RecordTables(Storage(spark, settings.stream.state_uri))
    latest = 2**62  # a batch id after every batch
    return tables.users(latest), tables.merchants(latest)


def scored_with(model: ScoringModel, plan: Plan):
    def scored(features: DataFrame) -> DataFrame:
        score = vector_to_array(F.col("probability"))[1]
        return model.pipeline.transform(features).withColumns(
            {
                "score": score,
                "threshold": F.lit(model.threshold),
                "alerted": score >= F.lit(model.threshold),
                "model_version": F.lit(model.version),
                "scored_at": F.lit(plan.scored_at).cast("timestamp"),
            }
        )

    return scored


def dead_letters(rejects: DataFrame, failed_at: datetime) -> DataFrame:
    """Kafka sink rows: the rejected message's key and value untouched, the reason and origin in the
    dead-letter headers (`kafka.dead_letter`)."""
    values = {
        dead_letter.REASON: F.col(PROBLEM),
        dead_letter.SOURCE_TOPIC: F.col("topic"),
        dead_letter.SOURCE_PARTITION: F.col("partition").cast("string"),
        dead_letter.SOURCE_OFFSET: F.col("offset").cast("string"),
        dead_letter.COMPONENT: F.lit("stream"),
        dead_letter.FAILED_AT: F.lit(failed_at.isoformat(timespec="milliseconds")),
    }
    headers = F.array(
        *(F.struct(F.lit(k).alias("key"), v.cast("binary").alias("value")) for k, v in values.items())
    )
    return rejects.select(
        "key", F.coalesce("value", F.lit(b"").cast("binary")).alias("value"), headers.alias("headers")
    )


class Laps:
    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return round(time.monotonic() - self.started, 3)
