"""The same Kafka settings for Java clients (Spark's Kafka connector): the one place they become Java
client properties, as librdkafka's are made in `clients.py`.

Security maps one to one: SASL credentials become a JAAS line, PEM files become PEM trust and key
stores (Java reads PEM since Kafka 2.7). `kafka.java_client_properties` adds anything else.
"""

from __future__ import annotations

from pathlib import Path

from fraudguard.config import Settings
from fraudguard.kafka.clients import bootstrap_servers

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def java_client_config(settings: Settings) -> dict[str, str]:
    kafka = settings.kafka
    config = {"bootstrap.servers": bootstrap_servers(settings), "security.protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        module = _LOGIN_MODULES.get(kafka.sasl_mechanism)
        if module and kafka.sasl_username:
            user = _escaped(kafka.sasl_username)
            password = _escaped(kafka.sasl_password.get_secret_value() if kafka.sasl_password else "")
            config["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    if kafka.ssl_ca_location:
        config["ssl.truststore.type"] = "PEM"
        config["ssl.truststore.location"] = kafka.ssl_ca_location
    if kafka.ssl_certificate_location and kafka.ssl_key_location:
        config["ssl.keystore.type"] = "PEM"
        config["ssl.keystore.certificate.chain"] = Path(kafka.ssl_certificate_location).read_text()
        config["ssl.keystore.key"] = Path(kafka.ssl_key_location).read_text()
        if kafka.ssl_key_password:
            config["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    config.update((key, str(value)) for key, value in kafka.java_client_properties.items())
    return config


def spark_kafka_options(settings: Settings) -> dict[str, str]:
    """The connection settings as the connector's `kafka.<property>` options (Spark redacts secret
    ones in its logs)."""
    return {f"kafka.{key}": value for key, value in java_client_config(settings).items()}


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
