"""The scoring job end to end, in this test process's Spark, against the real development broker and a
real MLflow store: a simulated world (with 1% malformed messages in every input topic) is published,
the job consumes it in several micro-batches (Trigger.AvailableNow), and its outputs are checked
against the same model scoring the same data in batch."""

from __future__ import annotations

import json
import time
import uuid

import pandas as pd
import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from pyspark.ml.functions import vector_to_array

from fraudguard.config import TopicRole, load_settings
from fraudguard.features.batch import build_features
from fraudguard.kafka.clients import bootstrap_servers, make_consumer, make_producer
from fraudguard.kafka.dead_letter import REASON, SOURCE_TOPIC, read_headers
from fraudguard.kafka.devbroker.control import create_topics
from fraudguard.paths import RuntimePaths
from fraudguard.schemas import ALERT
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.live import LivePublisher
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.stream.champion import ChampionSource
from fraudguard.stream.job import StreamJob
from fraudguard.train.job import Dataset, run_training
from tests.conftest import CONFIG_FILE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORLD = {"USERS": "300", "MERCHANTS": "60", "DAYS": "8", "SEED": "11", "FRAUD_RATE": "0.02"}


def stream_settings(broker_settings, runtime, suffix: str):
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
        "FRAUDGUARD__FEATURES__LABEL_DELAY_DAYS": "2",
        "FRAUDGUARD__MODEL__CLASSIFIER": "logistic_regression",
        "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
        "FRAUDGUARD__MODEL__TEST_DAYS": "2",
        "FRAUDGUARD__MODEL__VALIDATION_DAYS": "2",
        "FRAUDGUARD__MODEL__DAILY_ALERT_BUDGET": "15",
        "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
        "FRAUDGUARD__STREAM__MAX_ROWS_PER_BATCH": "2500",
        **{f"FRAUDGUARD__SIMULATOR__{key}": value for key, value in WORLD.items()},
    }
    for role in TopicRole:
        environ[f"FRAUDGUARD__TOPICS__{role.value.upper()}__NAME"] = f"{role.value}-{suffix}"
    return load_settings(CONFIG_FILE, environ=environ)


def consume_all(settings, role: TopicRole) -> list:
    """Every message of the topic, read from the start to the high watermark of each partition."""
    topic = settings.topics.get(role)
    consumer = make_consumer(settings, group_id=f"check-{uuid.uuid4().hex[:6]}")
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
            for p in range(topic.partitions)}  # fmt: skip
    consumer.assign([TopicPartition(topic.name, p, OFFSET_BEGINNING) for p in range(topic.partitions)])
    messages, position = [], dict.fromkeys(ends, 0)
    deadline = time.monotonic() + 60
    try:
        while any(position[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            messages.append(message)
            position[message.partition()] = message.offset() + 1
    finally:
        consumer.close()
    return messages


POISON = (
    b"{not json",
    b"[1, 2, 3]",
    b'{"transaction_id": "x"}',
    b"",
)


def publish_poison(settings, topic: str, count: int) -> list[bytes]:
    producer = make_producer(settings)
    values = [POISON[i % len(POISON)] for i in range(count)]
    for value in values:
        producer.produce(topic, key=b"poison", value=value)
    assert producer.flush(30) == 0
    return values


@pytest.fixture(scope="module")
def scored_world(broker, spark, tmp_path_factory):
    broker_settings, _ = broker
    runtime = tmp_path_factory.mktemp("stream-runtime")
    settings = stream_settings(broker_settings, runtime, uuid.uuid4().hex[:8])
    create_topics(broker_settings, list(settings.topics.all().values()))
    dataset = Dataset(runtime / "dataset")
    write_batch(FakerWorldTimeline(settings.simulator), dataset.path, {})
    outcome = run_training(spark, settings, dataset)
    assert outcome.decision.promoted

    report = LivePublisher(settings).run(FakerWorldTimeline(settings.simulator), rate=1e7, duration_s=None)
    counts = {TopicRole.TRANSACTIONS: report.transactions // 100, TopicRole.USERS: 4, TopicRole.MERCHANTS: 2}
    poison = {
        settings.topics.get(role).name: publish_poison(settings, settings.topics.get(role).name, count)
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
    batch_features = build_features(*dataset.frames(spark), settings.features)
    batch_scores = (
        model.pipeline.transform(batch_features)
        .select("transaction_id", vector_to_array("probability")[1].alias("score"))
        .toPandas()
        .set_index("transaction_id")["score"]
    )
    streamed = history.set_index("transaction_id")["score"].reindex(batch_scores.index)
    assert (streamed - batch_scores).abs().max() < 1e-9

    alerts = consume_all(settings, TopicRole.ALERTS)
    decoded = [ALERT.decode(message.value()) for message in alerts]
    assert [m.key().decode() for m in alerts] == [a["transaction_id"] for a in decoded]
    expected = set(batch_scores[batch_scores >= model.threshold].index)
    assert expected, "the model raised no alert at all: the check would be empty"
    assert {a["transaction_id"] for a in decoded} == expected
    assert len(decoded) == len(expected)
    for alert in decoded:
        assert alert["model_version"] == model.version and alert["reasons"]
        assert alert["score"] == pytest.approx(batch_scores[alert["transaction_id"]], abs=1e-9)


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


def test_the_progress_file_accounts_for_everything(scored_world):
    settings, _, report, poison = scored_world
    progress = json.loads(RuntimePaths(settings.runtime_dir).stream_progress.read_text())
    assert progress["state"] == "stopped"
    totals = progress["totals"]
    assert totals["transactions"] == report.transactions
    assert totals["dead_letters"] == sum(len(values) for values in poison.values())
    assert totals["late_users"] == totals["late_merchants"] == 0
    assert progress["model"]["version"] == "1"
