"""The DAG files as Airflow parses them (DagBag), and the training DAG run end to end with `airflow dags
test` (dag.test()) against the real local Kafka broker, Spark, MLflow store and a running stream job."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient

from fraudguard.config import TopicRole, load_settings
from fraudguard.kafka.clients import bootstrap_servers
from fraudguard.kafka.topics import create_topics
from fraudguard.orchestration.local_airflow import LocalAirflow
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.stream import control as stream_control
from fraudguard.train import registry
from fraudguard.train.job import Dataset, run_training
from tests.conftest import CONFIG_FILE, PROJECT_ROOT, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAGS = {"fraud_model_training", "fraud_stream_control", "fraud_traffic_simulation"}
TRAINING_TASKS = {
    "generate_data": {"assemble_training_set"},
    "assemble_training_set": {"validate_training_set"},
    "validate_training_set": {"train_model"},
    "train_model": {"evaluate_challenger", "register_challenger"},
    "evaluate_challenger": {"register_challenger", "promotion_gate"},
    "register_challenger": {"promotion_gate", "promote_champion"},
    "promotion_gate": {"promote_champion", "keep_champion"},
    "promote_champion": {"restart_stream"},
    "keep_champion": set(),
    "restart_stream": set(),
}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    """The project's dags folder parsed by Airflow's DagBag, in an AIRFLOW_HOME of its own."""
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    handlers = logging.root.handlers[:]
    from airflow.dag_processing.dagbag import DagBag  # configures logging for the whole process

    yield DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    logging.root.handlers[:] = handlers  # Airflow's handler writes to a stream pytest closes at exit


def test_every_dag_imports_without_errors_or_warnings(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.captured_warnings == {}
    assert set(dagbag.dag_ids) == DAGS
    for dag in dagbag.dags.values():
        assert "fraudguard" in dag.tags and dag.doc_md and "#### Params" in dag.doc_md
        for name in dag.params:
            assert f"`{name}`" in dag.doc_md, f"{dag.dag_id}: Param {name} is not explained in doc_md"


def test_the_training_dag_runs_nightly_once_at_a_time_in_order(dagbag):
    dag = dagbag.dags["fraud_model_training"]
    settings = load_settings(CONFIG_FILE, environ={})
    assert dag.timetable.expression == settings.training.schedule == "0 2 * * *"
    assert dag.timetable.interval == timedelta(days=1) and dag.timetable.run_immediately is False
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {task.task_id: task.downstream_task_ids for task in dag.tasks} == TRAINING_TASKS
    assert dag.get_task("promotion_gate").task_type == "_BranchPythonDecoratedOperator"
    assert dag.get_task("register_challenger").retries == 3
    assert dag.get_task("validate_training_set").retries == 0, "retrying bad data cannot help"
    params = {name: dag.params[name] for name in dag.params}
    assert params == {
        "window_days": 30, "users": 5000, "fraud_rate": 0.01, "classifier": "xgboost",
        "include_scored_history": True, "include_confirmed_labels": True, "dataset": "faker",
        "anomaly_feature": False,
    }  # fmt: skip
    assert dag.params.get_param("classifier").schema["enum"] == [
        "gbt",
        "xgboost",
        "logistic_regression",
        "random_forest",
        "isolation_forest",
    ]


def test_the_manual_dags_take_their_choices_as_params(dagbag):
    control = dagbag.dags["fraud_stream_control"]
    assert control.schedule is None and [t.task_id for t in control.tasks] == ["stream_action"]
    assert control.params.get_param("action").schema["enum"] == ["start", "stop", "restart", "status"]
    assert control.params["action"] == "status" and control.params["dataset"] == "faker"
    with pytest.raises(Exception, match="does not match"):
        control.params.get_param("dataset").resolve("../etc")
    traffic = dagbag.dags["fraud_traffic_simulation"]
    assert traffic.schedule is None and [t.task_id for t in traffic.tasks] == ["publish"]
    assert set(traffic.params) == {"rate", "duration_s", "fraud_rate", "scenario_mix", "users"}
    assert traffic.params["scenario_mix"]["card_testing"] == 0.25
    with pytest.raises(Exception, match="is less than the minimum"):
        traffic.params.get_param("duration_s").resolve(0)


# --- the training DAG end to end ------------------------------------------------------------------------

LOGICAL_DATE = "2026-11-21T02:00:00+00:00"
SMALL = {
    "FEATURES__LABEL_DELAY_DAYS": "2",
    "MODEL__TEST_DAYS": "2",
    "MODEL__VALIDATION_DAYS": "2",
    "MODEL__SEARCH_BUDGET_S": "0",
    "MODEL__DAILY_ALERT_BUDGET": "15",
    "MODEL__CLASSIFIER": "logistic_regression",
    "SIMULATOR__USERS": "300",
    "SIMULATOR__MERCHANTS": "60",
    "SIMULATOR__DAYS": "10",
    "SIMULATOR__FRAUD_RATE": "0.02",
    "TRAINING__WINDOW_DAYS": "10",
    "TRAINING__MIN_TRANSACTIONS": "1000",
}


def dags_test(settings, environ: dict[str, str], log: Path) -> None:
    local = LocalAirflow(settings, CONFIG_FILE)
    local.migrate()
    with log.open("a") as out:
        done = subprocess.run(
            local.command("dags", "test", "fraud_model_training", LOGICAL_DATE),
            env={**local.environment(), **environ},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    assert done.returncode == 0, f"`airflow dags test` failed; see {log}"


def task_states(settings, environ: dict[str, str]) -> dict[str, str]:
    """Each task's state in the latest run of the training DAG."""
    local = LocalAirflow(settings, CONFIG_FILE)
    runs = local.cli_json("dags", "list-runs", "fraud_model_training", extra_env=environ)
    latest = max(runs, key=lambda run: run["run_after"])
    assert latest["state"] == "success" and latest["logical_date"] == LOGICAL_DATE
    rows = local.cli_json(
        "tasks", "states-for-dag-run", "fraud_model_training", latest["run_id"], extra_env=environ
    )
    return {row["task_id"]: row["state"] for row in rows}


@pytest.fixture(scope="module")
def stream_and_champion(broker, spark, tmp_path_factory):
    """A weak first champion (transaction fields only) served by a running stream job."""
    broker_settings, _ = broker
    runtime = tmp_path_factory.mktemp("dag-runtime")
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
        "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
        **{f"FRAUDGUARD__{key}": value for key, value in SMALL.items()},
    }
    suffix = uuid.uuid4().hex[:8]
    for role in TopicRole:
        environ[f"FRAUDGUARD__TOPICS__{role.value.upper()}__NAME"] = f"{role.value}-{suffix}"
    settings = load_settings(CONFIG_FILE, environ=environ)
    create_topics(broker_settings, list(settings.topics.all().values()))
    write_batch(FakerWorldTimeline(settings.simulator), runtime / "first", settings_json={})
    assert run_training(
        spark, settings, Dataset(runtime / "first"), feature_set="transaction"
    ).decision.promoted
    run_cli("stream", "start", "--detach", env=environ, timeout=300)
    yield settings, environ, runtime
    stream_control.stop(settings)


@pytest.fixture(scope="module")
def first_run(stream_and_champion):
    settings, environ, runtime = stream_and_champion
    before = stream_control.running(settings)
    assert before is not None and before.progress.model is not None and before.progress.model.version == "1"
    dags_test(settings, environ, runtime / "dags-test.log")
    return before, task_states(settings, environ)


def test_the_training_dag_promotes_a_better_model_and_restarts_the_stream(stream_and_champion, first_run):
    settings, _, _ = stream_and_champion
    before, states = first_run
    assert states == {**dict.fromkeys(TRAINING_TASKS, "success"), "keep_champion": "skipped"}
    client = MlflowClient(settings.mlflow.tracking_uri)
    name = settings.model.registered_name
    champion = client.get_model_version_by_alias(name, registry.CHAMPION)
    assert (
        str(champion.version) == "2"
        and str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    )
    assert champion.tags[registry.DATA_KEY_TAG].startswith(
        "interval 2026-11-20T02:00:00+00:00..2026-11-21T02:00:00+00:00"
    )
    assert champion.tags["promotion_decision"] == "promoted"
    assert float(champion.tags["gate_challenger_auc_pr"]) >= float(champion.tags["gate_champion_auc_pr"])
    after = stream_control.running(settings)
    assert after is not None and after.progress.pid != before.progress.pid
    assert after.progress.model is not None and after.progress.model.version == "2", (
        "the restarted stream serves the new champion"
    )
    assert (
        json.loads((settings.model.export_dir / "champion" / "metadata.json").read_text())["version"] == "2"
    )


def test_rerunning_the_same_interval_registers_no_duplicate(stream_and_champion, first_run):
    settings, environ, runtime = stream_and_champion
    serving = stream_control.running(settings)
    dags_test(settings, environ, runtime / "dags-test-again.log")
    states = task_states(settings, environ)
    assert states["keep_champion"] == "success"
    assert states["promote_champion"] == states["restart_stream"] == "skipped"
    client = MlflowClient(settings.mlflow.tracking_uri)
    assert len(client.search_model_versions(f"name = '{settings.model.registered_name}'")) == 2
    assert client.get_model_version(settings.model.registered_name, "2").tags["promotion_reason"] == (
        "already champion"
    )
    assert stream_control.running(settings).progress.pid == serving.progress.pid, "no restart"
