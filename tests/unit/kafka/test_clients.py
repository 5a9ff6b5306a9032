"""Settings become librdkafka configs in one place: security settings pass through, secrets included."""

from __future__ import annotations

import pytest

from fraudguard.config import load_settings
from fraudguard.kafka.clients import BrokerNotRunning, bootstrap_servers, client_config
from fraudguard.kafka.java_client import spark_kafka_options
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


def test_the_same_settings_reach_the_java_clients_of_sparks_connector(tmp_path):
    certificate, key = tmp_path / "client.pem", tmp_path / "client.key"
    certificate.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    environ = {
        **CLUSTER,
        "FRAUDGUARD__KAFKA__SASL_PASSWORD": 'with "quotes"',
        "FRAUDGUARD__KAFKA__SSL_CERTIFICATE_LOCATION": str(certificate),
        "FRAUDGUARD__KAFKA__SSL_KEY_LOCATION": str(key),
        "FRAUDGUARD__KAFKA__JAVA_CLIENT_PROPERTIES": '{"max.poll.records": 5000}',
    }
    options = spark_kafka_options(load_settings(CONFIG_FILE, environ=environ))
    assert options == {
        "kafka.bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="fraudguard" password="with \\"quotes\\"";',
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/etc/ssl/ca.pem",
        "kafka.ssl.keystore.type": "PEM",
        "kafka.ssl.keystore.certificate.chain": certificate.read_text(),
        "kafka.ssl.keystore.key": key.read_text(),
        "kafka.max.poll.records": "5000",
    }


def test_calls_are_retried_while_a_leader_moves_or_a_new_topic_spreads_but_not_on_other_errors():
    from confluent_kafka import KafkaError, KafkaException

    from fraudguard.kafka.clients import retry_transient

    calls = []

    @retry_transient
    def flaky(code):
        calls.append(code)
        if len(calls) < 3:
            raise KafkaException(KafkaError(code))
        return "done"

    assert flaky(KafkaError.NOT_LEADER_FOR_PARTITION) == "done" and len(calls) == 3
    calls.clear()
    assert flaky(KafkaError.UNKNOWN_TOPIC_OR_PART) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(KafkaException):
        flaky(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    assert len(calls) == 1
