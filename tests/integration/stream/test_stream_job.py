"""The scoring job end to end, in this test process's Spark, against the real local Kafka broker and a
real MLflow store: a simulated world (with 1% malformed messages in every input topic) is published,
the job consumes it in several micro-batches (Trigger.AvailableNow), and its outputs are checked
against batch training's features and the same model scoring the same data in batch."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.ml.functions import vector_to_array

from fraudguard import background
from fraudguard.config import TopicRole, load_settings
from fraudguard.features.batch import EARLY_RATE, build_features
from fraudguard.features.sessions import SESSION_FEATURES, with_session_features
from fraudguard.features.user_history import STORE_IDS
from fraudguard.kafka.clients import bootstrap_servers, make_producer
from fraudguard.kafka.dead_letter import REASON, SOURCE_TOPIC, read_headers
from fraudguard.kafka.local_broker.control import node_down, node_up
from fraudguard.kafka.topics import create_topics
from fraudguard.paths import RuntimePaths
from fraudguard.schemas import (
    AGGREGATE,
    ALERT,
    LABEL,
    MERCHANT,
    SESSION_EVENT,
    TRANSACTION,
    USER,
    RecordSchema,
    format_timestamp,
)
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.live import LivePublisher
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark_standalone import StandaloneCluster
from fraudguard.stream import control as stream_control
from fraudguard.stream.champion import ChampionSource
from fraudguard.stream.job import StreamJob
from fraudguard.stream.progress import StreamProgress
from fraudguard.stream.scoring import MicroBatchScorer
from fraudguard.stream.session_join import BOUGHT
from fraudguard.train import registry
from fraudguard.train.job import Dataset, run_training
from fraudguard.train.pipeline import FEATURE_SETS
from tests.conftest import CONFIG_FILE, consume_all, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORLD = {"USERS": "300", "MERCHANTS": "60", "DAYS": "8", "SEED": "11", "FRAUD_RATE": "0.02"}


def stream_settings(broker_settings, runtime, suffix: str, **extra: str):
    """Settings (and the environment that gives them to a `fraudguard` process) for a job of its own:
    its runtime folder and topics, on the shared broker."""
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
        "FRAUDGUARD__FEATURES__LABEL_DELAY_DAYS": "3",  # the early merchant rate reads one day
        "FRAUDGUARD__MODEL__CLASSIFIER": "logistic_regression",
        "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
        "FRAUDGUARD__MODEL__TEST_DAYS": "2",
        "FRAUDGUARD__MODEL__VALIDATION_DAYS": "2",
        "FRAUDGUARD__MODEL__DAILY_ALERT_BUDGET": "15",
        "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
        "FRAUDGUARD__STREAM__MAX_ROWS_PER_BATCH": "2500",
        **{f"FRAUDGUARD__SIMULATOR__{key}": value for key, value in WORLD.items()},
        **extra,
    }
    for role in TopicRole:
        environ[f"FRAUDGUARD__TOPICS__{role.value.upper()}__NAME"] = f"{role.value}-{suffix}"
    return load_settings(CONFIG_FILE, environ=environ), environ


def mutated(sample: dict, schema: RecordSchema, rng: random.Random) -> bytes:
    """A real record of the topic spoiled one random way that the schema forbids."""
    record = dict(sample)
    field = rng.choice(schema.fields)
    kind = rng.randrange(8)
    if kind == 0:
        record[f"added_by_a_newer_producer_{rng.randrange(99)}"] = rng.choice([1, "x", None, [1]])
    elif kind == 1:  # the wrong type, huge text included
        wrong = {"string": [12345, True, [1], {"a": 1}], "double": ["abc", "x" * 100_000, [1.5]],
                 "int": [1.5, "7", 2**40], "bool": ["true", 1], "timestamp": ["yesterday", 1700000000],
                 "strings": ["a", [1, 2]]}  # fmt: skip
        record[field.name] = rng.choice(wrong[field.type])
    elif kind == 2 and any(f.type == "string" for f in schema.fields):
        text = rng.choice([f for f in schema.fields if f.type == "string"]).name
        record[text] = f"{record.get(text) or 'x'}\u0000{rng.randrange(99)}"
    elif kind == 3 and any(not f.nullable for f in schema.fields):
        del record[rng.choice([f for f in schema.fields if not f.nullable]).name]
    elif kind == 4:
        encoded = json.dumps(record, default=str).encode()
        return encoded[: rng.randrange(1, len(encoded) - 1)]  # cut short: not JSON
    elif kind == 5:
        encoded = bytearray(json.dumps(record, default=str).encode())
        encoded[rng.randrange(1, len(encoded) - 1)] = 0xFF  # not UTF-8
        return bytes(encoded)
    elif kind == 6:
        return rng.choice([b"", b"[1, 2, 3]", b"null", b'"text"', b"{not json"])
    else:
        record[field.name] = None if not field.nullable else {"nested": True}
    return json.dumps(record, default=str).encode()


def publish_poison(settings, role: TopicRole, count: int, sample: dict, schema: RecordSchema) -> list[bytes]:
    topic = settings.topics.get(role).name
    rng = random.Random(f"{role.value}-poison")
    values = [mutated(sample, schema, rng) for _ in range(count)]
    producer = make_producer(settings)
    for number, value in enumerate(values):  # keyed apart, as producers' ids are: over every partition
        producer.produce(topic, key=f"poison-{number}".encode(), value=value)
        producer.poll(0)
    assert producer.flush(30) == 0
    return values


@pytest.fixture(scope="module")
def scored_world(broker, spark, tmp_path_factory):
    broker_settings, _ = broker
    runtime = tmp_path_factory.mktemp("stream-runtime")
    settings, _ = stream_settings(
        broker_settings, runtime, uuid.uuid4().hex[:8], FRAUDGUARD__STREAM__TOP_PRODUCTS_WINDOW_S="60"
    )
    create_topics(broker_settings, list(settings.topics.all().values()))
    dataset = Dataset(runtime / "dataset")
    write_batch(FakerWorldTimeline(settings.simulator), dataset.path, {})
    outcome = run_training(spark, settings, dataset)
    assert outcome.decision.promoted

    # First only the initial user and merchant records, scored alone (a micro-batch without any
    # transaction); the publisher then sends them again with the rest (repeated versions are kept once).
    producer = make_producer(settings)
    for schema, table, role in zip((USER, MERCHANT), FakerWorldTimeline(settings.simulator).initial(),
                                   (TopicRole.USERS, TopicRole.MERCHANTS), strict=True):  # fmt: skip
        for key, value in zip(*schema.encode(table), strict=True):
            producer.produce(settings.topics.get(role).name, key=key, value=value)
    assert producer.flush(30) == 0
    StreamJob(settings, available_now=True, spark=spark).run()

    report = LivePublisher(settings).run(FakerWorldTimeline(settings.simulator), rate=1e7, duration_s=None)
    # 1,000 mutated messages, at least 1% of each topic: each a real record spoiled one random way.
    schemas = {TopicRole.TRANSACTIONS: TRANSACTION, TopicRole.USERS: USER, TopicRole.MERCHANTS: MERCHANT,
               TopicRole.LABELS: LABEL}  # fmt: skip
    samples = {role: json.loads(consume_all(settings, role)[0].value()) for role in schemas}
    counts = {
        TopicRole.TRANSACTIONS: 600,
        TopicRole.USERS: 150,
        TopicRole.MERCHANTS: 150,
        TopicRole.LABELS: 100,
    }
    assert counts[TopicRole.TRANSACTIONS] >= report.transactions // 100
    poison = {
        settings.topics.get(role).name: publish_poison(settings, role, count, samples[role], schemas[role])
        for role, count in counts.items()
    }
    StreamJob(settings, available_now=True, spark=spark).run()
    return settings, dataset, report, poison


def test_every_transaction_is_scored_once_and_alerts_match_batch_scoring(scored_world, spark):
    settings, dataset, report, _ = scored_world
    history = spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas()
    transactions = pd.read_parquet(dataset.path / "transactions")
    assert len(history) == len(transactions) == report.transactions
    assert set(history["transaction_id"]) == set(transactions["transaction_id"])
    assert history["batch"].nunique() >= 3, "the input did not spread over several micro-batches"

    model = ChampionSource(settings).current()
    batch_features = build_features(
        *dataset.frames(spark), settings.features, sessions=dataset.sessions(spark)
    )
    expected = batch_features.toPandas().set_index("transaction_id").sort_index()
    streamed = history.set_index("transaction_id").sort_index()
    numeric, categorical = FEATURE_SETS["sessions"].numeric, FEATURE_SETS["sessions"].categorical
    online = streamed["session_id"].notna()
    assert online.sum() > 100 and streamed.loc[online, "session_events"].notna().all()
    assert streamed.loc[~online, "session_events"].isna().all()
    assert (streamed["merchant_fraud_rate_28d"] > 0).any(), "no label reached the risk window: a weak check"
    assert (streamed[EARLY_RATE] > 0).any(), "no chargeback came in early: a weak check"
    assert (streamed["km_from_previous_store"] > 0).any()
    pd.testing.assert_frame_equal(
        streamed[list(numeric)].astype(float), expected[list(numeric)].astype(float),
        check_exact=False, rtol=0, atol=1e-6,
    )  # fmt: skip
    for column in [*categorical, *STORE_IDS]:
        pd.testing.assert_series_equal(
            streamed[column].astype(object).fillna("-"), expected[column].astype(object).fillna("-"),
            check_dtype=False,
        )  # fmt: skip

    batch_scores = (
        model.pipeline.transform(batch_features)
        .select("transaction_id", vector_to_array("probability")[1].alias("score"))
        .toPandas()
        .set_index("transaction_id")["score"]
    )
    streamed_scores = history.set_index("transaction_id")["score"].reindex(batch_scores.index)
    assert (streamed_scores - batch_scores).abs().max() < 1e-9

    alerts = consume_all(settings, TopicRole.ALERTS)
    decoded = [ALERT.decode(message.value()) for message in alerts]
    assert [m.key().decode() for m in alerts] == [a["transaction_id"] for a in decoded]
    alerted = set(batch_scores[batch_scores >= model.threshold].index)
    assert alerted, "the model raised no alert at all: the check would be empty"
    assert {a["transaction_id"] for a in decoded} == alerted
    assert len(decoded) == len(alerted)
    for alert in decoded:
        assert alert["model_version"] == model.version and alert["reasons"]
        assert alert["score"] == pytest.approx(batch_scores[alert["transaction_id"]], abs=1e-9)


def recounted_aggregates(decisions: pd.DataFrame, stream) -> dict[tuple, tuple]:
    """The live aggregates recounted in pandas from `decisions` (transaction_id, timestamp, alerted and
    the `product_id` bought, if known), keyed as `published_aggregates`."""

    def windows(frame: pd.DataFrame, seconds: int) -> pd.Series:
        return frame["timestamp"].dt.floor(f"{seconds}s").dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    purchases = decisions[~decisions["alerted"] & decisions["product_id"].notna()]
    purchases = purchases.assign(window=windows(purchases, stream.top_products_window_s))
    counts = purchases.groupby(["window", "product_id"]).size().rename("count").reset_index()
    counts = counts.sort_values(["window", "count", "product_id"], ascending=[True, False, True])
    counts["rank"] = counts.groupby("window").cumcount() + 1
    expected = {
        ("top_products", row.window, row.rank): (row.product_id, row.count)
        for row in counts[counts["rank"] <= 5].itertuples()
    }
    alerted = decisions[decisions["alerted"]]
    for window, count in alerted.groupby(windows(alerted, stream.alerts_window_s)).size().items():
        expected["alerts", window, 1] = (None, count)
    return expected


def published_aggregates(settings) -> dict[tuple, tuple]:
    """(measure, window start, rank) -> (product, count): the latest message per key on the topic."""
    latest = {}
    for message in consume_all(settings, TopicRole.AGGREGATES):  # in offset order: the last one wins
        figure = AGGREGATE.decode(message.value())
        assert message.key().decode() == figure["aggregate_id"]
        start = format_timestamp(figure["window_start"])
        latest[figure["measure"], start, figure["rank"]] = (figure["product_id"], figure["count"])
    return latest


def test_the_aggregates_topic_equals_a_batch_recount_of_each_window(scored_world, spark):
    """Top products bought without an alert and alerts, per window: the latest message per key on
    the aggregates topic equals a pandas recount from the world's checkouts and the stream's decisions."""
    settings, dataset, _, _ = scored_world
    assert settings.stream.top_products_window_s == 60, "a window length of its own: config reaches the job"
    history = spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas()
    sessions = pd.read_parquet(dataset.path / "sessions")
    checkouts = sessions[sessions["event_type"] == "checkout"][["transaction_id", "product_id"]]
    decisions = history[["transaction_id", "timestamp", "alerted", BOUGHT]].merge(
        checkouts, on="transaction_id", how="left"
    )
    online = decisions["product_id"].notna()
    assert online.sum() > 100 and decisions.loc[online, "alerted"].any()
    assert (decisions.loc[online, BOUGHT] == decisions.loc[online, "product_id"]).all()
    assert decisions.loc[~online, BOUGHT].isna().all()

    published = published_aggregates(settings)
    assert published == recounted_aggregates(decisions, settings.stream)
    assert (
        max(rank for _, _, rank in published) > 1 and len({w for m, w, _ in published if m == "alerts"}) > 1
    )


def test_malformed_messages_go_to_the_dead_letter_topic_with_reasons(scored_world):
    settings, _, _, poison = scored_world
    letters = consume_all(settings, TopicRole.DEAD_LETTER)
    by_topic: dict[str, list[bytes]] = {}
    for letter in letters:
        headers = read_headers(letter.headers())
        assert headers[REASON]
        by_topic.setdefault(headers[SOURCE_TOPIC], []).append(letter.value() or b"")
    assert {topic: sorted(values) for topic, values in by_topic.items()} == {
        topic: sorted(values) for topic, values in poison.items()
    }
    reasons = [read_headers(letter.headers())[REASON] for letter in letters]
    assert any("not valid JSON" in reason for reason in reasons)
    assert any("expected a JSON object" in reason for reason in reasons)
    assert any("user_id: missing" in reason for reason in reasons)
    kinds = ("not valid UTF-8", "unknown fields: added_by_a_newer_producer", "user_id: expected string",
             "merchant_id: expected string", "transaction_id: expected string", "contains a NUL character",
             "label.v1: ")  # fmt: skip
    for fragment in kinds:
        assert any(fragment in reason for reason in reasons), fragment


def test_the_progress_file_accounts_for_everything(scored_world):
    settings, _, report, poison = scored_world
    progress = StreamProgress.read(RuntimePaths(settings.runtime_dir).stream_progress())
    assert progress is not None and progress.state == "stopped"
    totals = progress.totals
    assert totals.transactions == report.transactions
    assert totals.dead_letters == sum(len(values) for values in poison.values())
    assert totals.late_users == totals.late_merchants == 0
    chargebacks = report.delivered[settings.topics.get(TopicRole.LABELS).name]
    assert chargebacks > 0 and totals.labels == chargebacks
    assert progress.model is not None and progress.model.version == "1"


def wait_for(settings, condition, timeout_s: float, what: str) -> StreamProgress:
    """Poll the job's progress file until `condition(progress)` holds."""
    deadline = time.monotonic() + timeout_s
    progress = None
    while time.monotonic() < deadline:
        current = stream_control.status(settings)
        progress = current.progress if current else None
        if progress is not None and condition(progress):
            return progress
        time.sleep(0.5)
    shown = progress.model_dump_json()[:2000] if progress else "none"
    raise AssertionError(f"timed out waiting for {what}; last progress: {shown}")


def test_a_job_started_before_its_topics_waits_for_them(scored_world, broker, spark, tmp_path):
    """`fraudguard run` launches the job beside the broker: it waits for its topics without starting a
    query (stopping meanwhile ends it), then starts once they exist."""
    first, _, _, _ = scored_world
    broker_settings, _ = broker
    settings, _ = stream_settings(
        broker_settings,
        tmp_path,
        uuid.uuid4().hex[:8],
        FRAUDGUARD__MLFLOW__TRACKING_URI=first.mlflow.tracking_uri,
        FRAUDGUARD__MODEL__EXPORT_DIR=str(first.model.export_dir),
    )

    def launched() -> tuple[StreamJob, threading.Thread]:
        job = StreamJob(settings, available_now=True, spark=spark)
        thread = threading.Thread(target=job.run, name="job")
        thread.start()
        time.sleep(5)  # without the wait, an AvailableNow query on no topic would be over by now
        assert thread.is_alive() and job.scorer is None
        assert stream_control.status(settings).progress.state == "starting"
        return job, thread

    job, thread = launched()
    job.request_stop()
    thread.join(30)
    assert not thread.is_alive() and job.scorer is None
    assert stream_control.status(settings).progress.state == "stopped"

    job, thread = launched()
    create_topics(broker_settings, list(settings.topics.all().values()))
    thread.join(180)
    assert not thread.is_alive() and job.scorer is not None
    progress = stream_control.status(settings).progress
    assert progress.state == "stopped" and progress.model is not None and progress.model.version == "1"


def test_a_checkpoint_with_daily_risk_tables_ends_the_job_with_the_reset_command(
    scored_world, broker, spark, tmp_path
):
    """Hourly risk rates cannot be derived from the daily tables an earlier version kept: the job says
    how to start afresh instead of scoring with rates missing their history."""
    first, _, _, _ = scored_world
    broker_settings, _ = broker
    settings, _ = stream_settings(
        broker_settings, tmp_path, uuid.uuid4().hex[:8],
        FRAUDGUARD__MLFLOW__TRACKING_URI=first.mlflow.tracking_uri,
    )  # fmt: skip
    create_topics(broker_settings, list(settings.topics.all().values()))
    (Path(urlparse(settings.stream.state_uri).path) / "tables" / "daily_counts").mkdir(parents=True)
    with pytest.raises(stream_control.StreamError, match=r"tables daily_counts.*`fraudguard stream reset`"):
        StreamJob(settings, available_now=True, spark=spark).run()


def test_a_checkpoints_merchant_rates_of_an_earlier_version_are_dropped(scored_world, spark, tmp_path):
    """An earlier version's merchant rates lack a column: the scorer drops them and keeps the hourly
    counts, so each day's rates are computed again from those (a day without rates is computed)."""
    first, _, _, _ = scored_world
    settings = first.model_copy(
        update={"stream": first.stream.model_copy(update={"state_uri": (tmp_path / "state").as_uri()})}
    )
    old = tmp_path / "state" / "tables" / "merchant_hourly_risk" / "_day=20000"
    old.mkdir(parents=True)
    (tmp_path / "state" / "tables" / "hourly_counts").mkdir()
    scorer = MicroBatchScorer(spark, settings)
    assert not old.parent.exists()
    assert scorer.tables.merchant_rates.days() == set()
    assert (tmp_path / "state" / "tables" / "hourly_counts").exists()


def test_the_job_survives_kill_9_a_broker_outage_and_a_new_champion(scored_world, broker, spark, tmp_path):
    """Run as users run it (`fraudguard stream start --detach`): killed with SIGKILL mid-stream and
    started again, one broker down for 10 s while it runs, a new champion promoted while it runs, then
    stopped gracefully. Nothing is missing, nothing duplicated, replayed alerts are identical, and alerts
    after the swap carry the new version."""
    first, _, _, _ = scored_world
    broker_settings, _ = broker
    settings, env = stream_settings(
        broker_settings,
        tmp_path,
        uuid.uuid4().hex[:8],
        FRAUDGUARD__MLFLOW__TRACKING_URI=first.mlflow.tracking_uri,
        FRAUDGUARD__MODEL__EXPORT_DIR=str(first.model.export_dir),
        FRAUDGUARD__STREAM__MAX_ROWS_PER_BATCH="800",  # about half the first days: the kill falls mid-stream
        FRAUDGUARD__STREAM__TRIGGER_INTERVAL_S="0",
        FRAUDGUARD__STREAM__MODEL_POLL_S="2",
        FRAUDGUARD__SIMULATOR__DAYS="2",  # the world's first days: enough batches before and after the kill
    )
    create_topics(broker_settings, list(settings.topics.all().values()))
    world = FakerWorldTimeline(settings.simulator)
    total = LivePublisher(settings).run(world, rate=1e7, duration_s=None).transactions

    run_cli("stream", "start", "--detach", env=env, timeout=240)
    killed = wait_for(
        settings, lambda p: p.query is not None and p.query.batch_id is not None, 180, "batch 0"
    )
    os.killpg(killed.pid, signal.SIGKILL)
    wait_for(settings, lambda p: not background.alive(killed.pid), 30, "the killed job to vanish")

    run_cli("stream", "start", "--detach", env=env, timeout=240)
    wait_for(settings, lambda p: p.totals.transactions >= total, 240, "the backlog")

    # A new champion while the job runs, promoted by hand (rollforward): the first run's model
    # registered again as a new version (training another model would prove nothing more here).
    first_run = registry.connect(settings).get_model_version(settings.model.registered_name, "1").run_id
    second = str(registry.register_run(settings, first_run, data_key="the same model, again").version)
    registry.promote(settings, second)
    wait_for(settings, lambda p: p.model is not None and p.model.version == second, 60, "hot reload")

    # More traffic (another world: new users and merchants), with the broker down for 10 s meanwhile.
    other = settings.simulator.model_copy(update={"seed": 12, "days": 1})
    outage = threading.Timer(2.0, lambda: node_down(broker_settings, 1))
    outage.start()
    recovery = threading.Timer(12.0, lambda: node_up(broker_settings, 1))
    recovery.start()
    more = LivePublisher(settings).run(FakerWorldTimeline(other), rate=300, duration_s=None)
    recovery.join()
    total += more.transactions
    wait_for(settings, lambda p: p.totals.transactions >= total, 240, "the new traffic")
    run_cli("stream", "stop", env=env, timeout=240)

    progress = stream_control.status(settings).progress
    assert progress.state == "stopped" and not background.alive(progress.pid)
    assert run_cli("stream", "status", env=env, check=False).returncode == 3
    log_text = stream_control.log_file(settings).read_text()
    assert "micro-batch scored" in log_text
    assert "doesn't contain a value" not in log_text, "each new user's first state read logged a warning"
    history = spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas()
    assert len(history) == total and history["transaction_id"].is_unique

    alerts = consume_all(settings, TopicRole.ALERTS)
    by_key: dict[str, set[bytes]] = {}
    for message in alerts:
        by_key.setdefault(message.key().decode(), set()).add(message.value())
    assert all(len(values) == 1 for values in by_key.values()), "a replayed alert differs"
    assert set(by_key) == set(history.loc[history["alerted"], "transaction_id"])
    recount = recounted_aggregates(history.rename(columns={BOUGHT: "product_id"}), settings.stream)
    assert published_aggregates(settings) == recount, "a replayed micro-batch counted twice or not at all"
    later = pa.concat_tables([day.transactions for day in FakerWorldTimeline(other).days()])
    later_ids = set(later["transaction_id"].to_pylist())
    assert set(history.loc[history["transaction_id"].isin(later_ids), "model_version"]) == {second}
    later_alerts = [ALERT.decode(next(iter(by_key[key]))) for key in set(by_key) & later_ids]
    assert later_alerts, "no alert after the swap: the version check would be empty"
    assert {alert["model_version"] for alert in later_alerts} == {second}


def test_the_same_job_runs_on_a_spark_standalone_cluster(scored_world, broker, spark, tmp_path):
    """The job submitted to a standalone master with two one-core workers (executor JVMs, Python workers
    beside them) scores the world's first days as batch scoring with the same champion, identically
    (features only look back, so the days after them change nothing)."""
    first, dataset, _, _ = scored_world
    broker_settings, _ = broker
    cluster = StandaloneCluster.on_free_ports(tmp_path / "spark-cluster")
    master = cluster.start(first)
    try:
        settings, env = stream_settings(
            broker_settings, tmp_path / "runtime", uuid.uuid4().hex[:8],
            FRAUDGUARD__MLFLOW__TRACKING_URI=first.mlflow.tracking_uri,
            FRAUDGUARD__MODEL__EXPORT_DIR=str(first.model.export_dir),
            FRAUDGUARD__SPARK__MASTER=master,
            FRAUDGUARD__SIMULATOR__DAYS="2",
        )  # fmt: skip
        create_topics(broker_settings, list(settings.topics.all().values()))
        report = LivePublisher(settings).run(
            FakerWorldTimeline(settings.simulator), rate=1e7, duration_s=None
        )
        run_cli("stream", "start", "--available-now", env=env, timeout=600)
        applications = cluster.applications()
    finally:
        cluster.stop()

    assert [app["cores"] for app in applications] == [2], applications
    executors = list((tmp_path / "spark-cluster").glob("worker-*/app-*/*/stderr"))
    assert {path.parts[-4] for path in executors} == {"worker-1", "worker-2"}, executors
    launched = [
        line for path in executors for line in path.read_text().splitlines() if "Executor Command" in line
    ]
    assert len(launched) == 2 and all(f'"{first.spark.java_options}"' in line for line in launched), launched

    model = ChampionSource(settings).current()
    batch_scores = (
        model.pipeline.transform(build_features(*dataset.frames(spark), settings.features))
        .select("transaction_id", vector_to_array("probability")[1].alias("score"))
        .toPandas()
        .set_index("transaction_id")["score"]
    )
    history = (
        spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas().set_index("transaction_id")
    )
    assert len(history) == report.transactions and history.index.is_unique
    assert set(history["model_version"]) == {model.version}
    batch_scores = batch_scores.reindex(history.index)
    assert batch_scores.notna().all(), "the shorter world is not the first days of the dataset's"
    assert (history["score"] - batch_scores).abs().max() < 1e-9
    alerts = {ALERT.decode(m.value())["transaction_id"] for m in consume_all(settings, TopicRole.ALERTS)}
    assert (
        alerts
        == set(history.index[history["alerted"]])
        == set(batch_scores.index[batch_scores >= model.threshold])
    )


SESSION_WAIT_S = 40
"""Several times the second job's run, and the test waits it out once."""


def test_the_session_join_waits_a_bounded_time_and_counts_late_events(scored_world, broker, spark, tmp_path):
    """One online payment whose browsing came first, one whose events come a few seconds later
    (within `session_wait_s`), one whose events never come, and an event that arrives after its
    payment was scored: each payment is scored once, the first two with exactly the session
    features training computes from the events that came in time, the third only after the wait,
    without them; the late event is counted."""
    first, dataset, _, _ = scored_world
    broker_settings, _ = broker
    settings, _ = stream_settings(
        broker_settings, first.runtime_dir, uuid.uuid4().hex[:8],
        FRAUDGUARD__STREAM__STATE_URI=str(tmp_path / "state"),
        FRAUDGUARD__STREAM__SCORED_HISTORY_DIR=str(tmp_path / "scored"),
        FRAUDGUARD__STREAM__SESSION_WAIT_S=str(SESSION_WAIT_S),
        FRAUDGUARD__STREAM__MAX_ROWS_PER_BATCH="1",
    )  # fmt: skip
    create_topics(broker_settings, list(settings.topics.all().values()))
    transactions = pd.read_parquet(dataset.path / "transactions")
    events = pd.read_parquet(dataset.path / "sessions")
    template = transactions[transactions["session_id"].notna()].iloc[0]
    browsing = events[events["session_id"] == template["session_id"]].sort_values("event_time")
    assert len(browsing) >= 3

    def payment(name: str, session: str | None) -> pd.DataFrame:
        row = template.to_frame().T.assign(transaction_id=name, session_id=session)
        return row.astype(transactions.dtypes.to_dict())

    def session(name: str, rows: pd.DataFrame) -> pd.DataFrame:
        """The template's browsing as session `name` of payment `p<name>` (its checkout names it)."""
        checkout = rows["transaction_id"].where(rows["transaction_id"].isna(), f"p{name.lower()}")
        ids = [f"{name}-{i}" for i in rows.index]
        return rows.assign(session_id=name, event_id=ids, transaction_id=checkout)

    def publish(role: TopicRole, schema: RecordSchema, frame: pd.DataFrame) -> None:
        producer = make_producer(settings)
        table = pa.Table.from_pandas(frame[list(schema.names)], preserve_index=False)
        for key, value in zip(*schema.encode(table), strict=True):
            producer.produce(settings.topics.get(role).name, key=key, value=value)
        assert producer.flush(30) == 0

    def run() -> StreamJob:
        job = StreamJob(settings, available_now=True, spark=spark)
        job.run()
        return job

    def scored() -> pd.DataFrame:
        history = spark.read.parquet(str(settings.stream.scored_history_dir)).toPandas()
        return history.set_index("transaction_id")

    late = browsing.index[-2]  # an event before the checkout, which would count if it came in time
    on_time_a, late_a = browsing.drop(index=late), browsing.loc[[late]]
    publish(TopicRole.SESSIONS, SESSION_EVENT, session("A", on_time_a))
    publish(TopicRole.TRANSACTIONS, TRANSACTION, pd.concat([payment("pa", "A"), payment("pb", "B"),
                                                            payment("pc", "C")]))  # fmt: skip
    run()
    paid = time.monotonic()  # after every payment arrived
    assert set(scored().index) == {"pa"}, "a payment without its events did not wait"

    publish(TopicRole.SESSIONS, SESSION_EVENT, pd.concat([session("A", late_a), session("B", browsing)]))
    job = run()
    assert time.monotonic() - paid < SESSION_WAIT_S, "too slow for this test: the wait was over"
    assert set(scored().index) == {"pa", "pb"}
    assert job.scorer is not None and job.scorer.totals().late_session_events == 1

    time.sleep(max(0.0, SESSION_WAIT_S + 1 - (time.monotonic() - paid)))
    publish(TopicRole.TRANSACTIONS, TRANSACTION, pd.concat([payment("pd", None), payment("pe", None)]))
    run()
    history = scored()
    assert sorted(history.index) == ["pa", "pb", "pc", "pd", "pe"]

    payments = spark.createDataFrame(pd.concat([payment("pa", "A"), payment("pb", "B"), payment("pc", "C")]))
    in_time = spark.createDataFrame(pd.concat([session("A", on_time_a), session("B", browsing)]))
    expected = with_session_features(payments, in_time).toPandas().set_index("transaction_id")
    assert expected.loc["pa", "session_events"] > 0 and expected.loc["pb", "session_events"] > 0
    assert expected.loc["pc", list(SESSION_FEATURES)].isna().all()
    pd.testing.assert_frame_equal(
        history.loc[["pa", "pb", "pc"], list(SESSION_FEATURES)].astype(float),
        expected.loc[["pa", "pb", "pc"], list(SESSION_FEATURES)].astype(float),
        check_exact=False, rtol=0, atol=1e-6,
    )  # fmt: skip
    assert history.loc[["pd", "pe"], "session_events"].isna().all()
