"""Local Airflow as a user runs it: `fraudguard airflow start`, a DAG run triggered through the REST API
with a token, loopback-only listeners, and `fraudguard airflow stop` leaving nothing behind."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse

import httpx
import psutil
import pytest

from fraudguard.config import load_settings
from fraudguard.orchestration.local_airflow import ADMIN_USER, LocalAirflow
from tests.conftest import CONFIG_FILE, free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    runtime = tmp_path_factory.mktemp("airflow-runtime")
    environ = {"FRAUDGUARD__RUNTIME_DIR": str(runtime), "FRAUDGUARD__AIRFLOW__PORT": str(free_port())}
    settings = load_settings(CONFIG_FILE, environ=environ)
    local = LocalAirflow(settings, CONFIG_FILE)
    started = run_cli("airflow", "start", env=environ, timeout=300)
    yield local, environ, started.stdout
    run_cli("airflow", "stop", env=environ, timeout=120)


def processes(local: LocalAirflow) -> list[psutil.Process]:
    found = []
    for pid in local.running().values():
        root = psutil.Process(pid)
        found += [root, *root.children(recursive=True)]
    return found


def test_start_prints_the_address_and_where_the_password_is(airflow):
    local, _, output = airflow
    assert local.url in output and str(local.password_file) in output and ADMIN_USER in output
    assert set(local.running()) == {"api-server", "scheduler", "dag-processor"}
    assert json.loads(local.password_file.read_text())[ADMIN_USER]


def test_every_listener_is_on_loopback(airflow):
    local, _, _ = airflow
    listening = [
        (process.pid, connection.laddr)
        for process in processes(local)
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    assert any(address.port == local.settings.airflow.port for _, address in listening)
    assert all(address.ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for _, address in listening), listening


def test_a_dag_run_triggered_through_the_rest_api_succeeds(airflow):
    local, _, _ = airflow
    password = json.loads(local.password_file.read_text())[ADMIN_USER]
    with httpx.Client(base_url=local.url, timeout=30) as client:
        assert client.get("/api/v2/dags").status_code == 401, "the API must not answer without a token"
        token = client.post("/auth/token", json={"username": ADMIN_USER, "password": password})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        assert client.get("/api/v2/importErrors").json()["total_entries"] == 0
        triggered = client.post(
            "/api/v2/dags/fraud_stream_control/dagRuns",
            json={"logical_date": None, "conf": {"action": "status"}},
        )
        assert triggered.status_code == 200, triggered.text
        run = (
            f"/api/v2/dags/fraud_stream_control/dagRuns/{urllib.parse.quote(triggered.json()['dag_run_id'])}"
        )
        deadline, state = time.monotonic() + 180, None
        while time.monotonic() < deadline and state not in ("success", "failed"):
            time.sleep(1)
            state = client.get(run).json()["state"]
        assert state == "success"
        result = client.get(f"{run}/taskInstances/stream_action/xcomEntries/return_value").json()["value"]
        assert result == {"alive": False, "state": "never started"}


def test_stop_leaves_no_process_and_no_listener(airflow):
    local, environ, _ = airflow
    before = processes(local)
    assert len(before) >= 3
    stopped = run_cli("airflow", "stop", env=environ, timeout=120)
    assert "Airflow stopped" in stopped.stdout
    time.sleep(0.5)
    alive = [p for p in before if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", local.settings.airflow.port), timeout=2).close()
    assert run_cli("airflow", "status", env=environ, check=False).returncode == 3
