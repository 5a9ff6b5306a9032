"""The `fraudguard` command as a user runs it."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def test_config_show_prints_the_effective_config_with_secrets_masked():
    env = {
        "FRAUDGUARD__KAFKA__SASL_PASSWORD": "hunter2-secret",
        "FRAUDGUARD__KAFKA__CLIENT_PROPERTIES": '{"sasl.oauthbearer.client.secret": "abc-secret"}',
        "FRAUDGUARD__TOPICS__TRANSACTIONS__PARTITIONS": "9",
    }
    shown = run_cli("config", "show", env=env).stdout
    assert "hunter2" not in shown and "abc-secret" not in shown
    data = yaml.safe_load(shown)
    assert data["kafka"]["sasl_password"] == "**********"
    assert data["kafka"]["client_properties"] == {"sasl.oauthbearer.client.secret": "**********"}
    assert data["topics"]["transactions"]["partitions"] == 9
    as_json = json.loads(run_cli("config", "show", "--json", env=env).stdout)
    assert as_json == data


def test_bad_config_fails_before_anything_starts_with_one_message_and_exit_code_2():
    result = run_cli(
        "broker", "start", "--detach", env={"FRAUDGUARD__DEV_BROKER__BROKERS": "lots"}, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid configuration:\n  environment variable FRAUDGUARD__DEV_BROKER__BROKERS: "
        "dev_broker.brokers: expected an integer, got 'lots'"
    )
    assert "Traceback" not in result.stderr


def test_the_broker_help_states_its_limits():
    shown = " ".join(run_cli("broker", "start", "--help").stdout.split())
    assert "in-memory mock Kafka cluster" in shown
    assert "about the last 5 MB" in shown


def test_run_starts_the_broker_shows_its_status_and_stops_it(make_runtime):
    _, env = make_runtime()
    result = run_cli("run", "--duration", "3", "--refresh", "1", env=env)
    assert "development broker at 127.0.0.1:" in result.stdout
    assert "transactions" in result.stdout and "fraud-alerts" in result.stdout
    assert "development broker stopped" in result.stdout
    assert run_cli("broker", "status", env=env, check=False).returncode == 3
