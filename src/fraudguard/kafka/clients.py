"""Producer, consumer and admin client factories: the one place settings become librdkafka configs."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from fraudguard.config import Settings
from fraudguard.kafka.local_broker import control as local_broker

_client_log = logging.getLogger("fraudguard.kafka.client")
PRODUCER_DEFAULTS = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}
"""Idempotent: acks=all, no duplicates on retry, order kept per partition."""


_MOVED = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._TRANSPORT,
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # a topic just created, not yet known to every node
}


def _is_retriable(error: BaseException) -> bool:
    if not isinstance(error, KafkaException) or not error.args:
        return False
    kafka_error = error.args[0]
    return kafka_error.retriable() or kafka_error.code() in _MOVED


retry_transient = retry(
    retry=retry_if_exception(_is_retriable),
    stop=stop_after_attempt(6),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
"""Retry a short client call on errors Kafka marks retriable (a leader or coordinator that moved
while a node restarted, a new topic that a node learns of a moment later), as the Java client does
on its own."""


class BrokerNotRunning(RuntimeError):
    """`bootstrap_servers: local` was asked for, but no node of the local Kafka cluster runs."""


def bootstrap_servers(settings: Settings) -> str:
    """The configured address, or for `local` the local Kafka cluster's."""
    if not settings.kafka.uses_local_broker:
        return settings.kafka.bootstrap_servers
    address = local_broker.bootstrap_servers(settings)
    if address is None:
        raise BrokerNotRunning(
            "kafka.bootstrap_servers is 'local' but the local Kafka broker is not running; start it "
            "with `fraudguard broker start --detach`, or point kafka.bootstrap_servers at a cluster"
        )
    return address


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Connection and security settings common to every client, plus pass-through properties."""
    kafka = settings.kafka
    optional = {
        "sasl.mechanism": kafka.sasl_mechanism,
        "sasl.username": kafka.sasl_username,
        "sasl.password": kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        "ssl.ca.location": kafka.ssl_ca_location,
        "ssl.certificate.location": kafka.ssl_certificate_location,
        "ssl.key.location": kafka.ssl_key_location,
        "ssl.key.password": (kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None),
    }
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers(settings),
        "security.protocol": kafka.security_protocol,
        "logger": _client_log,
    }
    config.update((key, value) for key, value in optional.items() if value is not None)
    config.update(kafka.client_properties)
    config.update(overrides)
    return config


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """An idempotent producer (acks=all, no duplicates on retry, order kept per partition)."""
    return Producer(client_config(settings, **{**PRODUCER_DEFAULTS, **overrides}))


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    """A consumer group member that commits only when told to (after the work is durable)."""
    defaults = {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    return Consumer(client_config(settings, **{**defaults, **overrides}))


def make_admin(settings: Settings, **overrides: Any) -> AdminClient:
    return AdminClient(client_config(settings, **overrides))
