"""Settings become librdkafka configs in one place: security settings pass through, secrets included."""

from __future__ import annotations

import pytest

from fraudguard.config import load_settings
from fraudguard.kafka.clients import BrokerNotRunning, bootstrap_servers, client_config
from tests.conftest import CONFIG_FILE

CLUSTER = {
    "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": "kafka-1:9093,kafka-2:9093",
    "FRAUDGUARD__KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "FRAUDGUARD__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "FRAUDGUARD__KAFKA__SASL_USERNAME": "fraudguard",
    "FRAUDGUARD__KAFKA__SASL_PASSWORD": "from-the-environment",
    "FRAUDGUARD__KAFKA__SSL_CA_LOCATION": "/etc/ssl/ca.pem",
    "FRAUDGUARD__KAFKA__CLIENT_PROPERTIES": '{"client.id": "fg", "linger.ms": 10}',
}


def test_security_settings_and_extra_properties_reach_the_client():
    config = client_config(load_settings(CONFIG_FILE, environ=CLUSTER), **{"linger.ms": 50})
    config.pop("logger")
    assert config == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "fraudguard",
        "sasl.password": "from-the-environment",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "client.id": "fg",
        "linger.ms": 50,  # an explicit override beats the configured default
    }


def test_local_without_a_running_broker_says_how_to_start_one(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    with pytest.raises(BrokerNotRunning, match="fraudguard broker start --detach"):
        bootstrap_servers(settings)
