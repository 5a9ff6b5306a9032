"""Bring your own data, end to end, on the real local Kafka, Spark and MLflow store: a PaySim file, a
credit-card file and a team's own CSV are imported, trained and promoted, replayed to their topics,
scored by their own stream jobs with their champions, and their alerts land in the alert store: exactly
the rows whose batch score is at or above the champion's threshold. The team's CSV is modelled without
its labels, by an isolation forest."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from fraudguard.alerts.consumer import AlertConsumer
from fraudguard.alerts.store import AlertStore
from fraudguard.config import TopicRole, load_settings
from fraudguard.data.importer import ImportOptions, import_dataset
from fraudguard.data.naming import dataset_topics, stream_settings
from fraudguard.data.reading import SourceFile
from fraudguard.data.replay import dataset_replay
from fraudguard.kafka import dead_letter
from fraudguard.kafka.clients import bootstrap_servers, make_producer
from fraudguard.kafka.topics import ensure_topics, read_topic
from fraudguard.paths import RuntimePaths
from fraudguard.stream import control
from fraudguard.stream.champion import ChampionSource
from fraudguard.stream.job import StreamJob
from fraudguard.train.imported import ImportedDataset
from fraudguard.train.job import run_training
from tests.conftest import CONFIG_FILE, FRAUDGUARD, run_cli
from tests.data_files import generic_table
from tests.samples.datasets import creditcard_csv, paysim_csv, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATASETS = {
    "paysim": lambda folder: (paysim_csv(folder / "paysim.csv", 6_000, fraud_rate=0.05, hours=96),
                              ImportOptions("paysim", "paysim", start=datetime(2026, 4, 1, tzinfo=UTC))),
    "creditcard": lambda folder: (creditcard_csv(folder / "creditcard.csv", 6_000, fraud_rate=0.03),
                                  ImportOptions("creditcard", "creditcard")),
    # renamed, reordered and extra columns, text categories, a timestamp: no code knows this file
    "mine": lambda folder: (write_csv(generic_table(5_000), folder / "export.csv", quoted_header=True),
                            ImportOptions("csv", "mine", label="chargeback", time="booked_at",
                                          id="payment_ref")),
}  # fmt: skip
UNSUPERVISED = "mine"


@pytest.fixture(scope="module")
def scored(broker, spark, tmp_path_factory):
    """Each dataset imported, trained, promoted, replayed and scored by its stream job; every alert
    consumed into the alert store."""
    broker_settings, _ = broker
    runtime = tmp_path_factory.mktemp("byod")
    suffix = uuid.uuid4().hex[:8]
    env = {"FRAUDGUARD__RUNTIME_DIR": str(runtime / "runtime"),
           "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
           "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0", "FRAUDGUARD__MODEL__MIN_PRECISION": "0.3",
           "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
           "FRAUDGUARD__STREAM__TRIGGER_INTERVAL_S": "0",
           "FRAUDGUARD__ALERTS__CONSUMER_GROUP": f"alerts-{suffix}",
           **{f"FRAUDGUARD__TOPICS__{role.upper()}__NAME": f"{role}-{suffix}"
              for role in ("transactions", "labels", "alerts", "dead_letter")}}  # fmt: skip
    settings = load_settings(CONFIG_FILE, environ=env)
    ensure_topics(settings)
    datasets = {}
    for name, made in DATASETS.items():
        source, options = made(tmp_path_factory.mktemp(name))
        dataset = ImportedDataset(RuntimePaths(settings.runtime_dir).datasets / name)
        import_dataset(SourceFile(source), dataset.path, options)
        classifier = "isolation_forest" if name == UNSUPERVISED else settings.datasets.classifier
        trained = settings.model_copy(
            update={"datasets": settings.datasets.model_copy(update={"classifier": classifier})}
        )
        assert run_training(spark, trained, dataset).decision.promoted
        publisher, timeline = dataset_replay(settings, name)
        assert publisher.run(timeline, 100_000, None).transactions == dataset.schema.rows
        datasets[name] = dataset

    malformed = make_producer(settings)
    paysim_topic = dataset_topics(settings, "paysim")[TopicRole.TRANSACTIONS].name
    malformed.produce(paysim_topic, key=b"bad", value=b'{"transaction_id": "bad", "amount": "lots"}')
    malformed.flush(10)

    # one job from the command line, in the background, as a user would start it; meanwhile the others
    # in this process, in the tests' Spark session
    command = [*FRAUDGUARD, "--config", str(CONFIG_FILE), "stream", "start", "--dataset", "creditcard",
               "--detach", "--available-now"]  # fmt: skip
    started = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    for name in ("paysim", "mine"):
        StreamJob(control.for_dataset(settings, name), available_now=True, spark=spark).run()
    assert started.wait(300) == 0, started.stdout.read().decode()

    store = AlertStore(f"sqlite:///{runtime / 'alerts.db'}")
    stop = threading.Event()
    consumer = threading.Thread(target=AlertConsumer(settings, store).run, args=(stop,))
    consumer.start()
    expected = {name: expected_alerts(spark, settings, dataset) for name, dataset in datasets.items()}
    deadline = time.monotonic() + 120
    while store.count() < sum(map(len, expected.values())) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # anything beyond the expected alerts arrives too
    stop.set()
    consumer.join(30)
    yield settings, env, store, expected
    store.close()


def expected_alerts(spark, settings, dataset: ImportedDataset) -> set[str]:
    """The dataset's rows scored in one batch by its champion: those at or above its threshold."""
    model = ChampionSource(stream_settings(control.for_dataset(settings, dataset.schema.name))).current()
    scores = model.pipeline.transform(dataset.rows(spark)).select(
        "transaction_id", vector_to_array("probability")[1].alias("score")
    )
    return {row[0] for row in scores.where(F.col("score") >= model.threshold).collect()}


def stored(store: AlertStore, model_name: str) -> list[dict]:
    return [alert for alert in store.iterate() if alert["model_name"] == model_name]


@pytest.mark.parametrize("name", DATASETS)
def test_alerts_are_exactly_the_rows_at_or_above_the_champions_threshold(scored, name):
    settings, _, store, expected = scored
    alerts = stored(store, f"{settings.model.registered_name}-{name}")
    assert expected[name], f"{name}: the champion flags no row: the test would prove nothing"
    assert {alert["transaction_id"] for alert in alerts} == expected[name]
    assert all(alert["score"] >= alert["threshold"] and alert["reasons"] for alert in alerts)
    status = control.status(control.for_dataset(settings, name))
    assert status is not None and status.progress.state == "stopped"
    assert (
        status.progress.totals.transactions
        == ImportedDataset(RuntimePaths(settings.runtime_dir).datasets / name).schema.rows
    )


def test_alerts_carry_what_the_dataset_has_and_leave_the_rest_empty(scored):
    settings, _, store, _ = scored
    paysim = stored(store, f"{settings.model.registered_name}-paysim")[0]
    assert paysim["user_id"].startswith("C") and paysim["merchant_id"][0] in "CM"
    assert paysim["amount"] > 0 and paysim["event_time"] is not None and paysim["currency"] is None
    card = stored(store, f"{settings.model.registered_name}-creditcard")[0]
    assert card["user_id"] is None and card["merchant_id"] is None and card["country"] is None
    assert card["amount"] is not None and card["event_time"] is not None
    unusual = [reason for alert in stored(store, f"{settings.model.registered_name}-creditcard")
               for reason in alert["reasons"] if "standard deviations" in reason]  # fmt: skip
    assert unusual and any(reason.startswith(("V14 ", "V17 ", "V12 ", "V10 ")) for reason in unusual)


def test_a_malformed_replayed_row_is_a_dead_letter_with_its_reason(scored):
    settings, _, _, _ = scored
    letters = read_topic(settings, settings.topics.get(TopicRole.DEAD_LETTER).name)
    reasons = [dict(message.headers())[dead_letter.REASON].decode() for message in letters]
    assert any(r.startswith("dataset-paysim") and "amount: expected a finite number" in r for r in reasons)
    status = control.status(control.for_dataset(settings, "paysim"))
    assert status.progress.totals.dead_letters == 1


def test_each_datasets_job_has_its_own_status_and_the_worlds_job_is_untouched(scored):
    settings, env, _, _ = scored
    shown = json.loads(run_cli("stream", "status", "--dataset", "creditcard", "--json", env=env,
                               check=False).stdout)  # fmt: skip
    assert shown["model"]["name"] == f"{settings.model.registered_name}-creditcard"
    assert shown["state"] == "stopped" and shown["totals"]["alerts"] > 0
    assert control.status(settings) is None  # the simulated world's job never ran here
    refused = run_cli("stream", "start", "--dataset", "nothing-here", "--detach", env=env, check=False)
    assert refused.returncode == 1 and "import it with `fraudguard data import`" in refused.stderr


def test_an_isolation_forest_champions_alerts_name_the_inputs_rare_in_its_population(scored):
    """The CSV's values are log-normal, its frauds' 5x: the forest, which never saw a label, isolates
    the far values first, and the reasons of its most anomalous alerts name `value_eur`."""
    settings, _, store, _ = scored
    alerts = stored(store, f"{settings.model.registered_name}-{UNSUPERVISED}")
    assert alerts and all(alert["reasons"] for alert in alerts)
    top = sorted(alerts, key=lambda alert: -alert["score"])[:50]
    rare = [reason for alert in top for reason in alert["reasons"] if reason.startswith("value_eur = ")]
    assert len(rare) >= 40, [alert["reasons"] for alert in top[:5]]
    assert all(" of payments" in reason or "learned from" in reason for reason in rare)
