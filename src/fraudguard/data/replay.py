"""`fraudguard data replay`: an imported dataset published live, as the seeds' producers did.

The rows go out in event-time order, day by day, to the dataset's own transactions topic, keyed by
transaction id and without their label; the frauds' labels follow on the dataset's own labels topic once
the replay's clock has passed their event time plus `features.label_delay_days` (a chargeback's
delay). A dataset without time has no clock: its labels follow its last row. The pacing, delivery
accounting and progress are the live simulator's (`simulate.live.LivePublisher`).

The dataset's topics are the registry's transactions and labels topics with the dataset's name
appended (`transactions-paysim`): a team's replay never mixes with the simulated world's traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudguard.config import Settings
from fraudguard.data.importer import ROWS_FILE
from fraudguard.data.naming import dataset_folder, dataset_topics
from fraudguard.data.schema import ROWS_DIR, DatasetSchema, Role
from fraudguard.kafka.topics import create_topics
from fraudguard.schemas import LABEL, MERCHANT, USER
from fraudguard.simulate.live import LivePublisher
from fraudguard.simulate.timeline import DayBatch

ROWS_PER_UNTIMED_BATCH = 50_000


def dataset_replay(settings: Settings, name: str) -> tuple[LivePublisher, DatasetTimeline]:
    """The imported dataset `name` as a live publisher to its own topics (created if missing) and the
    timeline it publishes."""
    folder = dataset_folder(settings, name)
    schema = DatasetSchema.load(folder)
    topics = dataset_topics(settings, name)
    create_topics(settings, list(topics.values()))
    timeline = DatasetTimeline(folder, schema, timedelta(days=settings.features.label_delay_days))
    publisher = LivePublisher(
        settings, transactions=timeline.record, topics={role: topic.name for role, topic in topics.items()}
    )
    return publisher, timeline


class DatasetTimeline:
    """An imported dataset as the live publisher's timeline: no user or merchant records, each day's
    rows as its transactions, and the labels reported that day."""

    def __init__(self, folder: Path, schema: DatasetSchema, label_delay: timedelta) -> None:
        self.name = schema.name
        self.folder, self.schema, self.label_delay = folder, schema, label_delay
        self.record = schema.record_schema()
        self.merchant = schema.one(Role.MERCHANT) is not None

    def initial(self) -> tuple[pa.Table, pa.Table]:
        return USER.arrow().empty_table(), MERCHANT.arrow().empty_table()

    def days(self, count: int | None = None) -> Iterator[DayBatch]:
        """One day of rows in memory at a time (read by a filter on the event time)."""
        path = self.folder / ROWS_DIR
        frauds = pq.read_table(path, columns=self._label_columns(), filters=[("is_fraud", "=", True)])
        if not self.schema.has_time:
            for index, batch in enumerate(
                pq.ParquetFile(path / ROWS_FILE).iter_batches(ROWS_PER_UNTIMED_BATCH)
            ):
                if count is not None and index >= count:
                    return
                yield self._batch(None, pa.Table.from_batches([batch]), LABEL.arrow().empty_table())
            yield self._batch(None, pa.table({}), self._labels(frauds))
            return
        labels = self._labels(frauds)  # in report order
        reported = labels.column("reported_at")
        times = pq.read_table(path, columns=["timestamp"]).column("timestamp")
        sent = 0
        for index, start in enumerate(sorted(pc.unique(pc.floor_temporal(times, unit="day")).to_pylist())):
            if count is not None and index >= count:
                return
            end = start + timedelta(days=1)
            rows = pq.read_table(path, filters=[("timestamp", ">=", start), ("timestamp", "<", end)])
            due = pc.sum(pc.less(reported, pa.scalar(end, reported.type))).as_py() or 0
            yield self._batch(start.date(), rows.sort_by("timestamp"), labels.slice(sent, due - sent))
            sent = due
        yield self._batch(None, pa.table({}), labels.slice(sent))  # reported after the last day

    def _batch(self, day: date | None, rows: pa.Table, labels: pa.Table) -> DayBatch:
        users, merchants = self.initial()
        if rows.num_columns == 0:
            transactions = self.record.arrow().empty_table()
        else:
            transactions = rows.select(self.record.names).cast(self.record.arrow(), safe=False)
        return DayBatch(day, users, merchants, transactions, labels)

    def _label_columns(self) -> list[str]:
        wanted = ["transaction_id", "timestamp" if self.schema.has_time else None,
                  "merchant_id" if self.merchant else None]  # fmt: skip
        return [name for name in wanted if name]

    def _labels(self, frauds: pa.Table) -> pa.Table:
        """Every fraud's chargeback, in report order: its event time plus the delay (without time:
        reported now, once the rows are out)."""
        count = frauds.num_rows
        if self.schema.has_time:
            event = frauds.column("timestamp")
            reported = pc.add(event, pa.scalar(self.label_delay))
        else:
            event = pa.nulls(count, pa.timestamp("ms", "UTC"))
            reported = pa.array([datetime.now(UTC)] * count, pa.timestamp("ms", "UTC"))
        table = pa.table(
            {
                "transaction_id": frauds.column("transaction_id"),
                "merchant_id": frauds.column("merchant_id")
                if self.merchant
                else pa.nulls(count, pa.string()),
                "event_time": event,
                "is_fraud": pa.array([True] * count),
                "source": pa.array(["chargeback"] * count),
                "reported_at": reported,
            }
        )
        return table.cast(LABEL.arrow(), safe=False).sort_by("reported_at")
