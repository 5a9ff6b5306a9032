"""`fraudguard data replay` against the real local Kafka: an imported dataset's rows on its own topic,
keyed by id, in event-time order, without their label; the frauds' labels on its own labels topic, each
sent after its transaction and reported a label delay after it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from fraudguard.config import TopicRole, load_settings
from fraudguard.data.importer import ImportOptions, import_dataset
from fraudguard.data.naming import dataset_topics
from fraudguard.data.reading import SourceFile
from fraudguard.kafka.clients import bootstrap_servers
from fraudguard.kafka.topics import read_topic
from fraudguard.paths import RuntimePaths
from fraudguard.schemas import LABEL
from tests.conftest import CONFIG_FILE, run_cli
from tests.data_files import generic_table
from tests.samples.datasets import paysim_csv, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def replayed(broker, tmp_path):
    """Settings and environment with topics of this test's own."""
    broker_settings, env = broker
    suffix = uuid.uuid4().hex[:8]
    env = {**env, "FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "runtime"),
           "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
           "FRAUDGUARD__FEATURES__LABEL_DELAY_DAYS": "1",
           "FRAUDGUARD__TOPICS__TRANSACTIONS__NAME": f"transactions-{suffix}",
           "FRAUDGUARD__TOPICS__LABELS__NAME": f"labels-{suffix}"}  # fmt: skip
    return load_settings(CONFIG_FILE, environ=env), env


def messages(settings, name: str, role: TopicRole) -> list:
    return read_topic(settings, dataset_topics(settings, name)[role].name)


def test_a_timed_dataset_is_replayed_in_time_order_and_its_labels_follow_after_the_delay(replayed, tmp_path):
    settings, env = replayed
    source = paysim_csv(tmp_path / "paysim.csv", 3_000, fraud_rate=0.05, hours=72)
    start = datetime(2026, 4, 1, tzinfo=UTC)
    schema = import_dataset(
        SourceFile(source), RuntimePaths(settings.runtime_dir).datasets / "paysim",
        ImportOptions("paysim", "paysim", start=start),
    )  # fmt: skip
    report = json.loads(run_cli("data", "replay", "paysim", "--rate", "100000", "--json", env=env).stdout)
    assert report["transactions"] == 3_000

    rows = messages(settings, "paysim", TopicRole.TRANSACTIONS)
    values = [json.loads(message.value()) for message in rows]
    assert len(rows) == 3_000 and {m.key().decode() for m in rows} == {v["transaction_id"] for v in values}
    assert all("is_fraud" not in v and "isFraud" not in v for v in values), "a label went out with its row"
    assert set(values[0]) == set(schema.record_schema().names) and values[0]["user_id"].startswith("C")
    for partition in {m.partition() for m in rows}:
        times = [v["timestamp"] for m, v in zip(rows, values, strict=True) if m.partition() == partition]
        assert times == sorted(times)

    labels = messages(settings, "paysim", TopicRole.LABELS)
    decoded = [LABEL.decode(message.value()) for message in labels]
    assert len(decoded) == schema.frauds > 0
    sent = {v["transaction_id"]: m.timestamp()[1] for m, v in zip(rows, values, strict=True)}
    for message, label in zip(labels, decoded, strict=True):
        assert label["reported_at"] - label["event_time"] == timedelta(days=1)
        assert message.timestamp()[1] >= sent[label["transaction_id"]], "a label went out before its row"


def test_a_dataset_without_time_is_replayed_and_its_labels_follow_the_last_row(replayed, tmp_path):
    settings, env = replayed
    table = generic_table(1_200).drop_columns(["booked_at"])
    import_dataset(
        SourceFile(write_csv(table, tmp_path / "untimed.csv", quoted_header=True)),
        RuntimePaths(settings.runtime_dir).datasets / "untimed",
        ImportOptions("csv", "untimed", label="chargeback", id="payment_ref"),
    )
    run_cli("data", "replay", "untimed", "--rate", "100000", env=env)
    rows = messages(settings, "untimed", TopicRole.TRANSACTIONS)
    labels = messages(settings, "untimed", TopicRole.LABELS)
    assert len(rows) == 1_200
    assert len(labels) == sum(v == "yes" for v in table["chargeback"].to_pylist())
    last_row = max(m.timestamp()[1] for m in rows)
    assert all(m.timestamp()[1] >= last_row for m in labels)
    assert {LABEL.decode(m.value())["event_time"] for m in labels} == {None}


def test_replaying_a_dataset_that_was_not_imported_says_how_to_import_it(replayed):
    _, env = replayed
    refused = run_cli("data", "replay", "nothing-here", env=env, check=False)
    assert refused.returncode == 1 and "fraudguard data import" in refused.stderr
