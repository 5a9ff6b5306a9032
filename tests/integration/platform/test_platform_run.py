"""`fraudguard run` end to end, as `make run` runs it, on a small world: every component starts, alerts
arrive, the summary's precision and recall are those of the scored history's ground truth, and the
shutdown leaves no process and no listener. Then a component that cannot start stops the run cleanly."""

from __future__ import annotations

import json
import socket
import time

import pandas as pd
import psutil
import pytest

from fraudguard.config import load_settings
from fraudguard.kafka.local_broker import control as local_broker
from fraudguard.orchestration.local_airflow import LocalAirflow
from tests.conftest import CONFIG_FILE, free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DURATION_S, RATE = 10, 30
"""The bounded run's full-rate traffic: after the first alert, `RATE` transactions a second for
`DURATION_S` seconds."""
STREAM_STOP_TIMEOUT_S = 600
"""Far longer than a micro-batch: a stop that waits for it is told apart from one that ends with the
running micro-batch."""
PARTS = ["Airflow", "MLflow UI", "first model training", "alert service", "streaming job", "Kafka"]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def platform_processes(runtime) -> list[psutil.Process]:
    """Every process whose command line mentions this run's runtime folder or was started from it."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + str((process.info["environ"] or {}).values())
        except psutil.Error:
            continue
        if str(runtime) in text and process.pid != psutil.Process().pid:
            found.append(process)
    return found


@pytest.fixture(scope="module")
def small_platform(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("platform")
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__LOCAL_BROKER__PORT": "0",
        "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
        "FRAUDGUARD__MODEL__CLASSIFIER": "logistic_regression",
        "FRAUDGUARD__MODEL__TEST_DAYS": "2",
        "FRAUDGUARD__MODEL__VALIDATION_DAYS": "2",
        "FRAUDGUARD__MODEL__DAILY_ALERT_BUDGET": "30",
        "FRAUDGUARD__FEATURES__LABEL_DELAY_DAYS": "2",
        "FRAUDGUARD__SIMULATOR__USERS": "300",
        "FRAUDGUARD__SIMULATOR__MERCHANTS": "60",
        "FRAUDGUARD__SIMULATOR__DAYS": "10",
        "FRAUDGUARD__SIMULATOR__FRAUD_RATE": "0.02",
        "FRAUDGUARD__ALERTS__PORT": str(free_port()),
        "FRAUDGUARD__AIRFLOW__PORT": str(free_port()),
        "FRAUDGUARD__MLFLOW__UI_PORT": str(free_port()),
        "FRAUDGUARD__STREAM__STOP_TIMEOUT_S": str(STREAM_STOP_TIMEOUT_S),
    }
    return load_settings(CONFIG_FILE, environ=environ), environ, runtime


@pytest.fixture(scope="module")
def bounded_run(small_platform):
    _, environ, runtime = small_platform
    summary_file = runtime / "summary.json"
    arguments = ["--duration", str(DURATION_S), "--rate", str(RATE), "--summary-json", str(summary_file)]
    done = run_cli("run", *arguments, env=environ, timeout=900)
    return json.loads(summary_file.read_text()), done.stdout


def test_every_component_starts_and_alerts_arrive(small_platform, bounded_run):
    settings, _, _ = small_platform
    summary, output = bounded_run
    for part in (
        "Kafka",
        "streaming job launched",
        "streaming job running",
        "alert service",
        "first model training",
        "MLflow UI",
        "Airflow",
    ):
        assert f"✓ {part}" in output
    assert f"the bootstrap model ({settings.model.bootstrap_dir})" in output
    assert str(LocalAirflow(settings, CONFIG_FILE).password_file) in output
    assert f"dashboard http://127.0.0.1:{settings.alerts.port}/" in output
    assert summary["published"] >= 0.9 * DURATION_S * RATE
    assert summary["scored"] == summary["published"], "the run ends once the stream scored its traffic"
    assert summary["alerts"] > 0 and summary["alerts_on_topic"] == summary["alerts"]
    assert summary["first_alert_on_dashboard_s"] is not None
    latency = summary["alert_latency_s"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < summary["seconds"]


def test_precision_and_recall_come_from_the_ground_truth(small_platform, bounded_run):
    settings, _, _ = small_platform
    summary, _ = bounded_run
    history = pd.read_parquet(
        settings.stream.scored_history_dir, columns=["is_fraud", "alerted", "model_version"]
    )
    assert len(history) == summary["scored"], "a fresh runtime holds only this run's traffic"
    assert "bootstrap" in set(history["model_version"]), "the shipped model scores until a champion exists"
    hits = int((history["is_fraud"] & history["alerted"]).sum())
    assert summary["frauds"] == int(history["is_fraud"].sum()) > 0
    assert summary["precision"] == round(hits / history["alerted"].sum(), 4)
    assert summary["recall"] == round(hits / history["is_fraud"].sum(), 4)


def test_the_shutdown_leaves_no_process_and_no_listener(small_platform, bounded_run):
    settings, _, runtime = small_platform
    summary, _ = bounded_run
    assert summary["stopped"] == PARTS
    assert platform_processes(runtime) == []
    kafka = [
        port for node in local_broker.layout(settings).nodes for port in (node.port, node.controller_port)
    ]
    for port in (settings.alerts.port, settings.airflow.port, settings.mlflow.ui_port, *kafka):
        assert not listening(port), port


def test_a_component_that_cannot_start_is_reported_and_the_rest_stopped(small_platform, bounded_run):
    settings, environ, runtime = small_platform
    with socket.socket() as squatter:  # the alert service's port is taken
        squatter.bind(("127.0.0.1", settings.alerts.port))
        squatter.listen()
        began = time.monotonic()
        done = run_cli("run", "--duration", "5", env=environ, check=False, timeout=2 * STREAM_STOP_TIMEOUT_S)
        took = time.monotonic() - began
    assert done.returncode == 1
    assert took < STREAM_STOP_TIMEOUT_S / 2, "the stream (busy with the traffic) was stopped by its timeout"
    assert "✗ alert service failed" in done.stdout and str(runtime / "logs" / "alerts.log") in done.stdout
    assert "alert service failed to start" in done.stderr
    assert platform_processes(runtime) == []
