"""The nightly training set with real Spark: synthetic data for the window, the stream's scored history
(another world, ids prefixed, rows after the interval left out), its labels from the labels topic
(chargebacks, and analysts' verdicts from a real alert store), and the checks that stop a bad set."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from fraudguard.alerts.notify.dispatcher import Dispatcher
from fraudguard.alerts.notify.labels import LabelChannel
from fraudguard.alerts.store import AlertStore, ReviewStatus
from fraudguard.config import TopicRole, load_settings
from fraudguard.config.model import SimulatorSettings
from fraudguard.kafka.clients import bootstrap_servers, make_producer
from fraudguard.kafka.topics import create_topics
from fraudguard.orchestration import training
from fraudguard.schemas import ALERT, LABEL, MERCHANT, USER
from fraudguard.spark import spark_schema
from fraudguard.stream.scoring import RecordTables
from fraudguard.stream.storage import Storage
from fraudguard.train.assemble import HISTORY_PREFIX
from fraudguard.train.job import Dataset
from fraudguard.train.validate import DataValidationError, require_valid, validate
from tests.conftest import CONFIG_FILE, simulated_world
from tests.samples.alerts import sample_alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

END = datetime(2026, 11, 21, 2, tzinfo=UTC)
SMALL = {
    "FEATURES__LABEL_DELAY_DAYS": "2",
    "MODEL__TEST_DAYS": "2",
    "MODEL__VALIDATION_DAYS": "2",
    "TRAINING__MIN_TRANSACTIONS": "1000",
}


def small_run(**changes) -> training.TrainingRun:
    choices = {"window_days": 8, "users": 200, "fraud_rate": 0.02, "classifier": "logistic_regression",
               "include_scored_history": True, "include_confirmed_labels": True, **changes}  # fmt: skip
    return training.TrainingRun(END - timedelta(days=1), END, **choices)


@pytest.fixture(scope="module")
def assembled(spark, broker, tmp_path_factory):
    runtime = tmp_path_factory.mktemp("training-runtime")
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker[0]),
        "FRAUDGUARD__TOPICS__LABELS__NAME": f"labels-{uuid.uuid4().hex[:8]}",
        **{f"FRAUDGUARD__{k}": v for k, v in SMALL.items()},
    }
    settings = load_settings(CONFIG_FILE, environ=environ)
    create_topics(settings, [settings.topics.get(TopicRole.LABELS)])
    run = small_run()
    generated = training.generate(settings, run)

    # The stream's world: 4 days, the last one on or after the interval's end (not yet trainable).
    world = SimulatorSettings(users=100, merchants=30, days=4, seed=5, fraud_rate=0.05,
                              start_date=END.date() - timedelta(days=3))  # fmt: skip
    transactions, users, merchants, chargebacks = simulated_world(world)
    history = transactions.assign(score=0.1, alerted=False, model_version="1",
                                  day=transactions["timestamp"].dt.strftime("%Y-%m-%d"), batch=0)  # fmt: skip
    # written as a stream before transactions had a session id would have
    history.drop(columns="session_id").to_parquet(
        settings.stream.scored_history_dir, partition_cols=["day", "batch"]
    )
    tables = RecordTables(Storage(spark, settings.stream.state_uri))
    for schema, frame in ((USER, users), (MERCHANT, merchants)):
        tables.records[schema.name].add(0, spark.createDataFrame(frame[schema.names], spark_schema(schema)))

    # Analysts reviewed four alerts: a fraud they call a false positive, a legit one they confirm.
    frauds = transactions.loc[transactions["is_fraud"] & (transactions["timestamp"] < END), "transaction_id"]
    legit = transactions.loc[~transactions["is_fraud"] & (transactions["timestamp"] < END), "transaction_id"]
    confirmed, cleared = ReviewStatus.CONFIRMED_FRAUD, ReviewStatus.FALSE_POSITIVE
    reviewed = {frauds.iloc[0]: cleared, frauds.iloc[1]: confirmed, legit.iloc[0]: confirmed,
                legit.iloc[1]: cleared}  # fmt: skip
    store = AlertStore(settings.alerts.database_url)
    _, values = sample_alerts(len(reviewed))
    store.add(
        {**ALERT.decode(value), "transaction_id": key} for key, value in zip(reviewed, values, strict=True)
    )
    for transaction_id, status in reviewed.items():
        store.review(transaction_id, status, note=None)
    Dispatcher(store, [LabelChannel(settings, store)]).deliver_due()  # the verdicts to the labels topic
    store.close()
    producer = make_producer(settings)  # the bank's chargebacks
    keys, values = LABEL.encode(pa.Table.from_pandas(chargebacks, schema=LABEL.arrow(), preserve_index=False))
    for key, value in zip(keys, values, strict=True):
        producer.produce(settings.topics.get(TopicRole.LABELS).name, value, key)
    assert producer.flush(30) == 0

    summary = training.assemble_training_set(settings, run)
    return settings, run, generated, transactions, reviewed, summary, (users, merchants, chargebacks)


def test_the_set_is_synthetic_data_plus_history_before_the_interval_end(assembled, spark):
    settings, run, generated, history, _, summary, (history_users, history_merchants, _) = assembled
    before_end = history[history["timestamp"] < END]
    assert len(before_end) < len(history), "the fixture's history should reach past the interval"
    assert summary["synthetic_transactions"] == generated["transactions"]
    assert summary["history_transactions"] == len(before_end)
    transactions, users, merchants, _ = Dataset(run.folder(settings) / "training_set").frames(spark)
    ids = set(transactions.select("transaction_id").toPandas()["transaction_id"])
    assert {HISTORY_PREFIX + t for t in before_end["transaction_id"]} <= ids
    assert len(ids) == summary["transactions"] == generated["transactions"] + len(before_end)
    online = transactions.where(F.col("channel") == "online")
    assert online.where(F.col("session_id").isNull()).count() == len(before_end.query("channel == 'online'"))
    sessions = Dataset(run.folder(settings) / "training_set").sessions(spark)
    assert sessions.count() == pq.read_table(generated["path"] + "/sessions").num_rows > 0
    synthetic_days = pd.date_range(END.date() - timedelta(days=8), periods=8).date
    days = {r[0] for r in transactions.select(F.to_date("timestamp")).distinct().collect()}
    assert set(synthetic_days) <= days
    assert transactions.agg(F.max("timestamp")).first()[0] < END.replace(tzinfo=None)  # Spark: naive UTC
    assert users.where(F.col("user_id").startswith(HISTORY_PREFIX)).count() == len(history_users)
    assert merchants.where(F.col("merchant_id").startswith(HISTORY_PREFIX)).count() == len(history_merchants)
    assert users.count() == len(history_users) + pq.read_table(generated["path"] + "/users.parquet").num_rows


def test_the_labels_topic_labels_the_history_and_the_latest_verdict_wins(assembled, spark):
    settings, run, _, history, reviewed, summary, (*_, chargebacks) = assembled
    assert summary["review_labels"] == 4 and summary["history_labels"] == 4 + len(chargebacks)
    transactions, *_ = Dataset(run.folder(settings) / "training_set").frames(spark)
    labels = dict(
        transactions.where(F.col("transaction_id").startswith(HISTORY_PREFIX))
        .select("transaction_id", "is_fraud")
        .collect()
    )
    charged_back = set(chargebacks["transaction_id"])
    for transaction_id in history.loc[history["timestamp"] < END, "transaction_id"]:
        status = reviewed.get(transaction_id)
        expected = status is ReviewStatus.CONFIRMED_FRAUD if status else transaction_id in charged_back
        assert labels[HISTORY_PREFIX + transaction_id] == expected, transaction_id
    unreported = history["is_fraud"] & ~history["transaction_id"].isin(charged_back)
    assert unreported.any(), "some frauds of the fixture's world are never reported"


def test_a_valid_set_passes_every_check(assembled):
    settings, run, *_ = assembled
    checks = training.validate_training_set(settings, run)
    names = {check["name"] for check in checks}
    assert names == {"schema_transaction", "schema_user", "schema_merchant", "schema_label", "row_count",
                     "fraud_share", "nulls", "duplicates", "unknown_entities", "split"}  # fmt: skip
    assert all(check["passed"] for check in checks)


def test_a_bad_set_fails_naming_each_check_and_its_numbers(assembled, spark):
    settings, run, *_ = assembled
    transactions, users, merchants, labels = Dataset(run.folder(settings) / "training_set").frames(spark)
    rows = transactions.count()
    ghosts = rows // 20  # 5% of the transactions from users nobody knows
    ghost = F.concat(F.lit("ghost-"), F.col("transaction_id"))
    broken = (
        transactions.unionByName(transactions.limit(7))
        .withColumn("amount", F.when(F.col("transaction_id").endswith("0"), None).otherwise(F.col("amount")))
        .unionByName(transactions.limit(ghosts).withColumns({"user_id": ghost, "transaction_id": ghost}))
        .withColumn("is_fraud", F.lit(False))
    )
    with pytest.raises(DataValidationError) as raised:
        require_valid(validate(broken, users, merchants, labels, settings))
    failed = {check.name: check.detail for check in raised.value.failed}
    assert set(failed) == {"fraud_share", "nulls", "duplicates", "unknown_entities", "split"}
    assert failed["duplicates"] == "7 repeated transaction ids"
    assert failed["nulls"].startswith("amount: ") and "null" in failed["nulls"]
    assert f"of {rows + 7 + ghosts:,})" in failed["fraud_share"]
    assert failed["unknown_entities"].startswith(f"{ghosts:,} transactions (")
    assert "fraud_share" in str(raised.value) and "0 frauds" in failed["split"]

    wrong_schema = transactions.drop("device_ip").withColumn("amount", F.col("amount").cast("string"))
    checks = validate(wrong_schema, users, merchants, labels, settings)
    assert [c.name for c in checks if not c.passed] == ["schema_transaction"]
    assert "device_ip missing" in checks[0].detail and "amount is string" in checks[0].detail


def test_too_few_days_fail_the_split_check(assembled, spark):
    settings, run, *_ = assembled
    transactions, users, merchants, labels = Dataset(run.folder(settings) / "training_set").frames(spark)
    last_days = transactions.where(F.col("timestamp") >= F.lit(END - timedelta(days=3)))
    checks = {c.name: c for c in validate(last_days, users, merchants, labels, settings)}
    assert not checks["split"].passed and "the split needs at least" in checks["split"].detail


def test_the_run_key_and_folder_follow_the_interval_and_choices(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    same, other_users = small_run(), small_run(users=300)
    later = training.TrainingRun(END, END + timedelta(days=1), **small_run().choices)
    assert small_run().data_key == same.data_key and small_run().folder(settings) == same.folder(settings)
    assert len({same.data_key, other_users.data_key, later.data_key}) == 3
    world = training.simulator_for(settings, same)
    assert world.start_date == END.date() - timedelta(days=8) and world.days == 8
    assert world.seed != training.simulator_for(settings, later).seed
    assert world.merchants == round(settings.simulator.merchants * 200 / settings.simulator.users)


def test_choices_come_from_the_trigger_form_over_the_configured_defaults(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    context = {"data_interval_start": END - timedelta(days=1), "data_interval_end": END,
               "params": {"users": 321, "classifier": None, "unknown": 1}}  # fmt: skip
    run = training.TrainingRun.from_context(settings, context)
    assert run.users == 321 and run.classifier == settings.model.classifier
    assert run.window_days == settings.training.window_days and run.interval_end == END

    class Triggered:  # a run triggered without a logical date has no data interval
        run_after = END

    undated = training.TrainingRun.from_context(settings, {"dag_run": Triggered(), "params": {}})
    assert (undated.interval_start, undated.interval_end) == (END - timedelta(days=1), END)


def test_generated_data_is_the_same_on_a_rerun(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    run = small_run(window_days=3, users=50)
    first = training.generate(settings, run)
    before = pq.read_table(first["path"] + "/transactions").to_pandas()
    again = training.generate(settings, run)
    after = pq.read_table(again["path"] + "/transactions").to_pandas()
    assert first == again and before.equals(after)
