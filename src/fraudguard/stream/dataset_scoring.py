"""One micro-batch of an imported dataset's replay (`data replay NAME`), scored by that dataset's champion.

    rows of `transactions-<name>` (parsed by the dataset's record schema)
      ├─ rejects ─────────────────────────────────→ dead-letter topic
      └─ records ─ champion PipelineModel ─┬→ scored history (beside the world's, `-<name>`)
                                           └→ alerts topic (the same one as the world's)

A dataset's model reads the dataset's own columns, so a replayed row is scored as it arrives: no
entity records, no per-user state. The plan, exactly-once replay, reports and Kafka sinks are the
world's scorer's (`MicroBatchScorer`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudguard.config import Settings, TopicRole
from fraudguard.schemas import RecordSchema
from fraudguard.stream.alerts import DatasetAlertMaker
from fraudguard.stream.champion import ChampionSource, ScoringModel
from fraudguard.stream.messages import KAFKA_ROWS
from fraudguard.stream.parse import KIND, PROBLEM, parse_topic
from fraudguard.stream.progress import BatchReport
from fraudguard.stream.scoring import (
    Laps,
    MicroBatchScorer,
    Plan,
    count_where,
    dead_letters,
    scored_with,
)
from fraudguard.stream.sources import kafka_source
from fraudguard.train.imported import ImportedDataset

SCORING_COLUMNS = ("score", "threshold", "alerted", "model_version", "scored_at")
SOURCE = ("kafka_ts", "topic", "partition", "offset")


class DatasetScorer(MicroBatchScorer):
    """Spark calls it with each micro-batch of the dataset's replay (`foreachBatch`)."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        dataset: ImportedDataset,
        models: ChampionSource | None = None,
    ) -> None:
        super().__init__(spark, settings, models)
        self.dataset = dataset
        self.record: RecordSchema = dataset.schema.record_schema()
        self.amount = next((name for name in dataset.schema.numeric if name.lower() == "amount"), None)
        self.usual = usual_values(dataset.rows(spark), dataset.schema.numeric)

    @classmethod
    def of(
        cls, spark: SparkSession, settings: Settings, models: ChampionSource | None = None
    ) -> DatasetScorer:
        """The scorer of `stream.dataset`, imported where `data import` writes datasets."""
        assert settings.stream.dataset is not None
        return cls(spark, settings, ImportedDataset.named(settings, settings.stream.dataset), models)

    def inputs(self) -> DataFrame:
        source = kafka_source(
            self.spark,
            self.settings,
            [self.topics[TopicRole.TRANSACTIONS]],
            self.settings.stream.max_rows_per_batch,
        )
        return parse_topic(source, self.record, scored=self.record)

    def _score(self, rows: DataFrame, batch_id: int, plan: Plan, model: ScoringModel) -> BatchReport:
        laps = Laps()
        valid = F.col(PROBLEM).isNull()
        counts = rows.agg(
            count_where((F.col(KIND) == self.record.name) & valid).alias("transactions"),
            count_where(~valid).alias("dead_letters"),
        ).collect()[0]
        laps.lap("input")
        if counts["dead_letters"]:
            self._send(dead_letters(rows.where(~valid), plan.scored_at), TopicRole.DEAD_LETTER)
        laps.lap("dead_letters")
        alerts = 0
        if counts["transactions"]:
            records = rows.where(valid).select(*SOURCE, *self.record.names)
            scored = records.transform(scored_with(model, plan))
            scored = scored.select(*SOURCE, *self.record.names, *SCORING_COLUMNS).persist()
            try:
                alerts = scored.agg(count_where(F.col("alerted")).alias("alerts")).collect()[0]["alerts"]
                laps.lap("score")
                if alerts:
                    maker = DatasetAlertMaker(model.name, model.version, model.threshold,
                                              dict(model.importances), dict(model.population),
                                              plan.scored_at, self.amount, self.usual)  # fmt: skip
                    self._send(scored.where("alerted").mapInPandas(maker, KAFKA_ROWS), TopicRole.ALERTS)
                laps.lap("alerts")
                self._write_history(scored, batch_id)
                laps.lap("history")
            finally:
                scored.unpersist()
        return BatchReport(
            batch_id=batch_id,
            transactions=counts["transactions"],
            alerts=alerts,
            dead_letters=counts["dead_letters"],
            late_users=0,
            late_merchants=0,
            user_records=0,
            merchant_records=0,
            labels=0,
            late_session_events=0,
            model_version=model.version,
            duration_s=laps.total(),
            steps_s=laps.seconds,
        )


def usual_values(rows: DataFrame, columns: list[str]) -> dict[str, tuple[float, float]]:
    """Each numeric input's mean and standard deviation over the dataset (what alert reasons compare
    a row with), in one pass on the executors."""
    if not columns:
        return {}
    figures = rows.agg(
        *(F.mean(c).alias(f"mean_{i}") for i, c in enumerate(columns)),
        *(F.stddev(c).alias(f"sd_{i}") for i, c in enumerate(columns)),
    ).collect()[0]
    return {
        c: (float(figures[f"mean_{i}"] or 0.0), float(figures[f"sd_{i}"] or 0.0))
        for i, c in enumerate(columns)
    }
