"""The streaming scoring job: one Structured Streaming query, kept running, reporting its progress.

    Kafka (transactions; users, merchants, labels) ─ parse ─ per-user state ─ foreachBatch(MicroBatchScorer)
    Kafka (an imported dataset's replay) ─ parse by its schema ─ foreachBatch(DatasetScorer)

One job per source: the simulated world's, or one per imported dataset (`stream.dataset`), each with
its own champion, checkpoint, scored history and progress (`data.naming`).

Everything is read with Spark's own Kafka connector and processed on the executors. The checkpoint
(offsets and the per-user state store) and the scorer's tables live under `stream.state_uri`, so a
restarted job, on this machine or another, resumes after its last committed micro-batch. A failed
query (e.g. the broker unreachable for longer than the client timeouts) is restarted from the
checkpoint with a growing pause; the job only ends when asked to, or for `available_now`, when the
input is consumed (such a one-off run fails instead of retrying). A checkpoint whose state another
query wrote (`INCOMPATIBLE_STATE`) ends the job with the command that resets it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from fraudguard.config import Settings
from fraudguard.data.naming import stream_settings
from fraudguard.kafka.clients import BrokerNotRunning, make_admin
from fraudguard.kafka.topics import existing_topics
from fraudguard.paths import RuntimePaths, suffixed
from fraudguard.spark import spark_session
from fraudguard.stream import control
from fraudguard.stream.champion import ChampionSource
from fraudguard.stream.progress import QueryProgress, ServedModel, State, StreamProgress
from fraudguard.stream.scoring import INPUT_ROLES, IncompatibleTables, MicroBatchScorer
from fraudguard.stream.user_state import quiet_state_server

log = logging.getLogger("fraudguard.stream")

QUERY_NAME = "fraudguard-scoring"
RESTART_PAUSES_S = (1, 2, 5, 10, 30)
INPUTS_REPORT_S = 10.0  # while the job waits for its topics, it says why this often
INCOMPATIBLE_STATE = (
    "STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE",
    "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE",
    "STATE_STORE_COLUMN_FAMILY_SCHEMA_INCOMPATIBLE",
    "STATE_STORE_INVALID_VALUE_SCHEMA_EVOLUTION",
    "STATE_STORE_INVALID_VARIABLE_TYPE_CHANGE",
    "STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA",
)
"""Spark's error conditions for a checkpoint whose state another query wrote: restarting cannot help."""


def incompatible_state(error: Exception) -> str | None:
    """The condition that says the checkpoint's state belongs to another query, if it is one."""
    text = str(error)
    return next((name for name in INCOMPATIBLE_STATE if f"[{name}]" in text), None)


def start_query(spark: SparkSession, settings: Settings, scorer: MicroBatchScorer, available_now: bool):
    """Start the scoring query on the scorer's inputs (Trigger.AvailableNow: consume what is there,
    then end)."""
    stream = settings.stream
    # A processing-time stateful operator would otherwise ask for a batch without data after every
    # batch, forever (AvailableNow never ends); state expiry also happens in batches with data.
    spark.conf.set("spark.sql.streaming.noDataMicroBatches.enabled", "false")
    # The session join's two arrival-time watermarks: the later one, so that an idle sessions topic
    # does not hold back the payments waiting for their events (`stream.session_join`).
    spark.conf.set("spark.sql.streaming.multipleWatermarkPolicy", "max")
    writer = (
        scorer.inputs()
        .writeStream.queryName(suffixed(QUERY_NAME, stream.dataset))
        .foreachBatch(scorer)
        .option("checkpointLocation", scorer.storage.checkpoint)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    elif stream.trigger_interval_s > 0:
        writer = writer.trigger(processingTime=f"{stream.trigger_interval_s} seconds")
    return writer.start()


def scorer_for(spark: SparkSession, settings: Settings, models: ChampionSource) -> MicroBatchScorer:
    """The simulated world's scorer, or that of the imported dataset `stream.dataset` names."""
    if settings.stream.dataset is None:
        return MicroBatchScorer(spark, settings, models)
    from fraudguard.stream.dataset_scoring import DatasetScorer

    return DatasetScorer.of(spark, settings, models)


def input_topics(settings: Settings) -> list[str]:
    """The topics the job waits for before it starts its query: the world's, which `topics create`
    makes. A dataset's topic is made by its replay, perhaps later: Spark reads it from its first
    message then."""
    if settings.stream.dataset is not None:
        return []
    return [settings.topics.get(role).name for role in INPUT_ROLES]


class StreamJob:
    def __init__(
        self, settings: Settings, available_now: bool = False, spark: SparkSession | None = None
    ) -> None:
        """`spark`: an existing session to run in (left running); by default the job starts its own."""
        self.settings, self.spark = stream_settings(settings), spark
        self.available_now = available_now
        self.stop_requested = threading.Event()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.models = ChampionSource(self.settings)
        self.scorer: MicroBatchScorer | None = None

    def request_stop(self) -> None:
        self.stop_requested.set()

    def run(self) -> None:
        control.service(self.settings).claim()  # status and stop find the job by its pid file
        self._write_progress("starting", None)
        spark = self.spark or spark_session(self.settings, "fraudguard-stream")
        quiet_state_server(spark)
        threading.Thread(target=self._load_model, name="model-load", daemon=True).start()
        failures = 0
        try:
            self._await_inputs()
            if not self.stop_requested.is_set():
                try:
                    self.scorer = scorer_for(spark, self.settings, self.models)
                except IncompatibleTables as error:
                    raise control.StreamError(self._incompatible(str(error))) from error
            while not self.stop_requested.is_set():
                assert self.scorer is not None
                query = start_query(spark, self.settings, self.scorer, self.available_now)
                log.info("query started", extra={"id": str(query.id), "run": str(query.runId)})
                try:
                    self.models.current()  # waits for the load; fails clearly without any model
                except Exception:
                    query.stop()
                    raise
                try:
                    self._watch(query)
                    if not self.stop_requested.is_set():  # AvailableNow: all input consumed
                        break
                except StreamingQueryException as error:
                    condition = incompatible_state(error)
                    if condition is not None:
                        raise control.StreamError(self._incompatible(condition)) from error
                    if self.available_now:  # a one-off run reports its failure instead of retrying
                        raise
                    pause = RESTART_PAUSES_S[min(failures, len(RESTART_PAUSES_S) - 1)]
                    failures += 1
                    log.error(
                        "query failed; restarting from the checkpoint",
                        extra={"error": str(error).splitlines()[0], "pause_s": pause, "failures": failures},
                    )
                    self._write_progress("restarting", query, error=str(error).splitlines()[0])
                    self.stop_requested.wait(pause)
            self._write_progress("stopped", None)
        except BaseException as error:
            self._write_progress(
                "failed", None, error=str(error).splitlines()[0] if str(error) else repr(error)
            )
            raise
        finally:
            if self.spark is None:
                spark.stop()

    def _load_model(self) -> None:
        """Load the model while the job waits for its topics and starts its query (each takes seconds).
        An error is raised again, to the job, when the started query asks for the model."""
        with contextlib.suppress(Exception):
            self.models.current()

    def _await_inputs(self) -> None:
        """Wait until the broker answers and holds the job's input topics (`input_topics`), or a stop is
        requested: the job may start before them, e.g. beside the local broker."""
        wanted, said, admin = input_topics(self.settings), 0.0, None
        while not self.stop_requested.is_set():
            try:
                admin = admin or make_admin(self.settings)  # the local broker's address exists once it runs
                missing = sorted(set(wanted) - set(existing_topics(admin)))
                problem = f"topics {', '.join(missing)} do not exist yet" if missing else None
            except (BrokerNotRunning, KafkaException) as error:
                problem = str(error).splitlines()[0]
            if problem is None:
                return
            if time.monotonic() - said >= INPUTS_REPORT_S:
                log.info("waiting for the inputs", extra={"problem": problem})
                said = time.monotonic()
            self.stop_requested.wait(0.5)

    def _incompatible(self, condition: str) -> str:
        dataset = f" --dataset {self.settings.stream.dataset}" if self.settings.stream.dataset else ""
        return (
            f"the checkpoint under stream.state_uri ({self.settings.stream.state_uri}) holds state of "
            f"another query ({condition}), e.g. one an earlier fraudguard version wrote: "
            f"`fraudguard stream reset{dataset}` forgets it (the scored history stays), then start again"
        )

    def _watch(self, query: StreamingQuery) -> None:
        """Report progress every second; on a stop request let the running micro-batch finish."""
        while query.isActive:
            if self.stop_requested.is_set():
                self._stop_between_batches(query)
                break
            query.awaitTermination(1)
            self.models.current()  # notices a new champion even while no data arrives
            self._write_progress("running", query)
        query.awaitTermination()  # raises when the query failed
        self._write_progress("running", query)

    def _stop_between_batches(self, query: StreamingQuery) -> None:
        """Stop once the running micro-batch is committed. Under steady traffic the next one starts at
        once, so the query is never idle: waiting for that would always take `stop_timeout_s`."""
        deadline = time.monotonic() + self.settings.stream.stop_timeout_s
        committed = _last_batch_id(query)
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
            if _last_batch_id(query) != committed:
                break
            time.sleep(0.1)
        log.info("stopping the query", extra={"batch_running": bool(query.status.get("isTriggerActive"))})
        query.stop()

    def _write_progress(self, state: State, query: StreamingQuery | None, error: str | None = None) -> None:
        scorer, model = self.scorer, self.models.loaded
        progress = StreamProgress(
            state=state,
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            error=error,
        )
        if scorer is not None:
            progress.last_batch, progress.totals = scorer.last, scorer.totals()
        if model is not None:
            progress.model = ServedModel(name=model.name, version=model.version, source=model.source)
        try:
            if query is not None:
                last, running = query.lastProgress, bool(query.status.get("isTriggerActive"))
                if last or running:
                    progress.query = query_progress(last or {}, running)
        except Exception as error:  # a report must never stop the job
            log.warning("cannot read the query's progress", extra={"error": repr(error)})
        progress.write(RuntimePaths(self.settings.runtime_dir).stream_progress(self.settings.stream.dataset))


def _last_batch_id(query: StreamingQuery) -> int | None:
    last = query.lastProgress
    return None if last is None else last.batchId


def query_progress(last: dict[str, Any], batch_running: bool = False) -> QueryProgress:
    """The figures `stream status` shows, from Spark's last progress report."""
    end, latest = {}, {}
    for source in last.get("sources") or []:
        end.update(_offsets(source.get("endOffset")))
        latest.update(_offsets(source.get("latestOffset")))
    return QueryProgress(
        batch_id=last.get("batchId"),
        timestamp=last.get("timestamp"),
        input_rows=last.get("numInputRows"),
        input_rows_per_s=round(last.get("inputRowsPerSecond") or 0.0, 1),
        processed_rows_per_s=round(last.get("processedRowsPerSecond") or 0.0, 1),
        batch_duration_ms=(last.get("durationMs") or {}).get("triggerExecution"),
        batch_running=batch_running,
        lag={key: max(latest[key] - end.get(key, 0), 0) for key in sorted(latest)},
    )


def _offsets(value: Any) -> dict[str, int]:
    """The connector's `{"topic": {"partition": offset}}` as `{"topic:partition": offset}`."""
    parsed = json.loads(value) if isinstance(value, str) else value
    return {f"{topic}:{p}": int(o) for topic, parts in (parsed or {}).items() for p, o in parts.items()}
