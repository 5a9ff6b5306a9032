"""The `fraudguard` command as a user runs it."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
import uuid
from datetime import UTC, datetime

import pytest
import yaml

from fraudguard.config import TopicRole, load_settings
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.dead_letter import DeadLetter
from fraudguard.kafka.topics import create_topics
from tests.conftest import CONFIG_FILE, FRAUDGUARD, run_cli

pytestmark = pytest.mark.integration


def test_config_show_prints_the_effective_config_with_secrets_masked():
    env = {
        "FRAUDGUARD__KAFKA__SASL_PASSWORD": "hunter2-secret",
        "FRAUDGUARD__KAFKA__CLIENT_PROPERTIES": '{"sasl.oauthbearer.client.secret": "abc-secret"}',
        "FRAUDGUARD__TOPICS__TRANSACTIONS__PARTITIONS": "9",
        "FRAUDGUARD__ALERTS__DATABASE_URL": "postgresql+psycopg://fraud:pg-secret@db.bank.test:5432/alerts",
        "FRAUDGUARD__MLFLOW__TRACKING_URI": "postgresql://ml:ml-secret@db.bank.test/mlflow",
        "FRAUDGUARD__ALERTS__WEBHOOK__URL": "https://hooks.chat.test/services/T1/B2/hook-secret",
        "FRAUDGUARD__SPARK__CONF": '{"spark.hadoop.fs.s3a.secret.key": "s3-secret"}',
    }
    shown = run_cli("config", "show", env=env).stdout
    secrets = ("hunter2", "abc-secret", "pg-secret", "ml-secret", "hook-secret", "s3-secret")
    assert [value for value in secrets if value in shown] == []
    data = yaml.safe_load(shown)
    assert data["kafka"]["sasl_password"] == "**********"
    assert data["kafka"]["client_properties"] == {"sasl.oauthbearer.client.secret": "**********"}
    assert data["topics"]["transactions"]["partitions"] == 9
    assert data["alerts"]["database_url"] == "postgresql+psycopg://fraud:**********@db.bank.test:5432/alerts"
    assert data["alerts"]["webhook"]["url"] == "https://hooks.chat.test/**********"
    as_json = json.loads(run_cli("config", "show", "--json", env=env).stdout)
    assert as_json == data


def test_bad_config_fails_before_anything_starts_with_one_message_and_exit_code_2():
    result = run_cli(
        "broker", "start", "--detach", env={"FRAUDGUARD__LOCAL_BROKER__NODES": "lots"}, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid configuration:\n  environment variable FRAUDGUARD__LOCAL_BROKER__NODES: "
        "local_broker.nodes: expected an integer, got 'lots'"
    )
    assert "Traceback" not in result.stderr


def test_the_broker_help_says_what_it_runs_and_where_its_data_lives():
    shown = " ".join(run_cli("broker", "--help").stdout.split())
    assert "Apache Kafka (KRaft) from pinned Maven Central jars" in shown
    assert "Data lives under <runtime_dir>/kafka and survives restarts" in shown


def test_stream_reset_asks_first_and_keeps_the_scored_history(tmp_path):
    state, history = tmp_path / "state", tmp_path / "var" / "scored"
    for folder in (state / "checkpoint" / "offsets", history / "day=2026-12-04"):
        folder.mkdir(parents=True)
    env = {
        "FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var"),
        "FRAUDGUARD__STREAM__STATE_URI": state.as_uri(),
        "FRAUDGUARD__STREAM__SCORED_HISTORY_DIR": str(history),
    }
    declined = subprocess.run(
        [*FRAUDGUARD, "--config", str(CONFIG_FILE), "stream", "reset"],
        input="n\n", env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "[y/N]" in declined.stdout and "aborted" in declined.stderr
    assert declined.returncode == 130 and state.exists()
    done = run_cli("stream", "reset", "--yes", env=env)
    assert "stream state forgotten" in done.stdout
    assert not state.exists() and (history / "day=2026-12-04").exists()


@pytest.mark.slow
def test_train_evaluate_show_and_promote_through_the_cli(make_runtime):
    """The model lifecycle as a user drives it: generate, train (registers and promotes v1), evaluate,
    show, promote (the rollback command) with its export."""
    settings, env = make_runtime(
        FRAUDGUARD__MODEL__CLASSIFIER="logistic_regression", FRAUDGUARD__MODEL__SEARCH_BUDGET_S="0",
        FRAUDGUARD__MODEL__TEST_DAYS="2", FRAUDGUARD__MODEL__VALIDATION_DAYS="2",
        FRAUDGUARD__FEATURES__LABEL_DELAY_DAYS="2",
    )  # fmt: skip
    env = {**env, "FRAUDGUARD__MODEL__EXPORT_DIR": str(settings.runtime_dir / "models")}
    settings.runtime_dir.chmod(0o755)  # as a umask of 022 leaves it
    data = settings.runtime_dir / "datasets" / "faker"
    run_cli("simulate", "batch", "--days", "10", "--users", "300", "--merchants", "60",
            "--fraud-rate", "0.02", "--out", str(data), env=env)  # fmt: skip

    trained = run_cli("train", env=env, timeout=300).stdout
    assert "fraud-detector v1" in trained and "auc_pr" in trained
    assert "promotion gate: promoted" in trained
    assert (settings.runtime_dir / "models" / "champion" / "metadata.json").exists()

    evaluated = json.loads(run_cli("evaluate", env=env).stdout)
    assert evaluated["version"] == "1"
    assert 0.0 < evaluated["auc_pr"] <= 1.0 and re.fullmatch(
        r"\d{4}-\d\d-\d\d\.\.\d{4}-\d\d-\d\d", evaluated["test"]
    )

    shown = run_cli("model", "show", env=env).stdout
    assert "champion, challenger" in shown or "challenger, champion" in shown
    assert "is now the champion" in run_cli("model", "promote", "--version", "1", env=env).stdout
    metadata = json.loads((settings.runtime_dir / "models" / "champion" / "metadata.json").read_text())
    assert str(metadata["version"]) == "1"

    # What was written is for this OS user only: the MLflow store, the datasets, the exported model.
    assert stat.S_IMODE(settings.runtime_dir.stat().st_mode) == 0o700
    written = [path for path in settings.runtime_dir.rglob("*") if not path.is_symlink()]
    assert any(path.name == "mlflow.db" for path in written)
    exposed = [path for path in written if path.stat().st_mode & 0o077]
    assert exposed == [], exposed[:5]


def test_dead_letters_are_listed_with_their_reason_origin_and_bytes(broker):
    broker_settings, env = broker
    env = {**env, "FRAUDGUARD__TOPICS__DEAD_LETTER__NAME": f"dead-{uuid.uuid4().hex[:8]}"}
    settings = load_settings(CONFIG_FILE, environ=env)
    topic = settings.topics.get(TopicRole.DEAD_LETTER)
    create_topics(broker_settings, [topic])
    producer = make_producer(settings)
    letters = [
        DeadLetter(b"k1", b"{not json", "not JSON: Expecting property name", "transactions", 2, 41, "stream"),
        DeadLetter(None, b"", "empty message", "users", 0, 7, "stream"),
    ]
    for letter in letters:
        producer.produce(topic.name, key=letter.key, value=letter.value, headers=letter.headers())
    assert producer.flush(10) == 0
    listed = [
        json.loads(line) for line in run_cli("topics", "dead-letters", "--json", env=env).stdout.splitlines()
    ]
    fields = ("reason", "topic", "partition", "offset", "component", "key", "value")
    assert [tuple(row[name] for name in fields) for row in listed] == [
        ("not JSON: Expecting property name", "transactions", "2", "41", "stream", "k1", "{not json"),
        ("empty message", "users", "0", "7", "stream", "", ""),
    ]
    table = run_cli("topics", "dead-letters", env=env).stdout
    assert "2 dead letters" in table and "transactions/2@41" in table


def test_alerts_replay_moves_the_services_committed_offsets_back(broker):
    from confluent_kafka import TopicPartition

    from fraudguard.kafka.clients import make_consumer

    broker_settings, env = broker
    suffix = uuid.uuid4().hex[:8]
    env = {**env, "FRAUDGUARD__TOPICS__ALERTS__NAME": f"alerts-{suffix}",
           "FRAUDGUARD__ALERTS__CONSUMER_GROUP": f"group-{suffix}"}  # fmt: skip
    settings = load_settings(CONFIG_FILE, environ=env)
    topic = settings.topics.get(TopicRole.ALERTS)
    assert topic.partitions >= 2
    create_topics(broker_settings, [topic])
    producer = make_producer(settings)
    # Message i of a partition is i hours after the first, within the topic's retention: older ones
    # would go at the broker's next retention check.
    first_hour = (int(time.time()) // 3600 - 12) * 3600
    for partition, count in ((0, 6), (1, 4)):
        for hour in range(count):
            producer.produce(
                topic.name, value=b"{}", partition=partition, timestamp=(first_hour + hour * 3600) * 1000
            )
    assert producer.flush(10) == 0

    def committed() -> dict[int, int]:
        consumer = make_consumer(settings, settings.alerts.consumer_group)
        positions = consumer.committed([TopicPartition(topic.name, p) for p in (0, 1)], timeout=10)
        consumer.close()
        return {position.partition: position.offset for position in positions}

    run_cli("alerts", "replay", "--from", "1000", env=env)  # past the end: clamped to it
    assert committed() == {0: 6, 1: 4}
    output = run_cli("alerts", "replay", "--from", "2", "--partition", "0", env=env).stdout
    assert committed() == {0: 2, 1: 4}
    assert "4 alerts will be read again" in output

    def hours_later(hours: float, form: str) -> str:
        return datetime.fromtimestamp(first_hour + hours * 3600, UTC).strftime(form)

    output = run_cli("alerts", "replay", "--from-time", hours_later(3, "%Y-%m-%dT%H:%M:%SZ"), env=env).stdout
    assert committed() == {0: 3, 1: 3}
    assert "4 alerts will be read again" in output
    run_cli("alerts", "replay", "--from-time", hours_later(4.5, "%Y-%m-%dT%H:%M"), env=env)  # no zone: UTC
    assert committed() == {0: 5, 1: 4}  # partition 1 has nothing that late: its end
    output = run_cli("alerts", "replay", env=env).stdout
    assert committed() == {0: 0, 1: 0}
    assert "10 alerts will be read again" in output

    wrong = run_cli("alerts", "replay", "--from", "yesterday", env=env, check=False)
    assert wrong.returncode != 0 and "expected 'earliest' or an offset" in wrong.stderr
    wrong = run_cli("alerts", "replay", "--from-time", "yesterday", env=env, check=False)
    assert wrong.returncode != 0 and "--from-time: expected an ISO 8601 time" in wrong.stderr
    missing = run_cli("alerts", "replay", "--partition", "9", env=env, check=False)
    assert missing.returncode != 0 and "not [9]" in missing.stderr
    assert committed() == {0: 0, 1: 0}
