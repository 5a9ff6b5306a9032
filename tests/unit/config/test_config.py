"""Configuration: each class of bad input fails before anything starts, with the exact message a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from fraudguard.config import ConfigError, Settings, TopicRole, load_settings
from fraudguard.config.loader import secret_key_paths
from fraudguard.config.reference import reference_markdown
from tests.conftest import CONFIG_FILE, PROJECT_ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return str(caught.value)


def test_the_committed_config_loads_with_every_registry_topic():
    settings = load_settings(CONFIG_FILE, environ={})
    assert settings.kafka.bootstrap_servers == "local"
    assert {role: t.name for role, t in settings.topics.all().items()} == {
        TopicRole.TRANSACTIONS: "transactions",
        TopicRole.USERS: "users",
        TopicRole.MERCHANTS: "merchants",
        TopicRole.LABELS: "labels",
        TopicRole.SESSIONS: "sessions",
        TopicRole.ALERTS: "fraud-alerts",
        TopicRole.AGGREGATES: "live-aggregates",
        TopicRole.DEAD_LETTER: "dead-letter",
    }
    assert settings.runtime_dir == CONFIG_FILE.parent.parent / "var"


def test_unknown_key_names_the_file_the_key_and_the_allowed_keys(tmp_path):
    path = write(tmp_path, "kafka:\n  bootstrap_server: localhost:9092\n")
    assert error_of(path) == (
        "invalid configuration:\n"
        f"  {path}: kafka.bootstrap_server: unknown key (expected one of: bootstrap_servers, "
        "client_properties, java_client_properties, sasl_mechanism, sasl_password, sasl_username, "
        "security_protocol, ssl_ca_location, ssl_certificate_location, ssl_key_location, ssl_key_password)"
    )


def test_wrong_type_names_what_was_expected_and_what_was_found(tmp_path):
    path = write(tmp_path, "topics:\n  transactions: {name: transactions, partitions: six}\n")
    assert error_of(path) == (
        f"invalid configuration:\n  {path}: topics.transactions.partitions: expected an integer, got 'six'"
    )


def test_out_of_range_and_choice_errors_state_the_bound_and_the_choices(tmp_path):
    path = write(tmp_path, "kafka: {security_protocol: TLS}\nlocal_broker: {nodes: 0}\n")
    assert error_of(path) == (
        "invalid configuration (2 problems):\n"
        f"  {path}: kafka.security_protocol: expected one of 'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' "
        "or 'SASL_SSL', got 'TLS'\n"
        f"  {path}: local_broker.nodes: expected a number >= 1, got 0"
    )


def test_missing_required_value(tmp_path):
    path = write(tmp_path, "topics:\n  users: {name: users}\n")
    assert error_of(path) == (
        f"invalid configuration:\n  {path}: topics.users.partitions: a required value is missing"
    )


def test_rules_across_keys_are_explained(tmp_path):
    path = write(
        tmp_path,
        "kafka: {security_protocol: SASL_SSL}\ntopics: {users: {name: transactions, partitions: 1}}\n",
    )
    assert error_of(path) == (
        "invalid configuration (2 problems):\n"
        f"  {path}: kafka: expected sasl_mechanism to be set when security_protocol is SASL_SSL\n"
        f"  {path}: topics: expected a distinct name per topic, got transactions twice"
    )


def test_unreadable_yaml_names_the_line_and_column(tmp_path):
    path = write(tmp_path, "kafka:\n  bootstrap_servers: [a, b\n")
    assert error_of(path) == (
        f"{path}: line 3, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'"
    )


def test_missing_file_and_wrong_top_level(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert error_of(missing) == f"{missing}: cannot read the config file: No such file or directory"
    assert error_of(write(tmp_path, "- a\n- b\n")) == (
        f"{tmp_path / 'platform.yaml'}: (top level): expected a mapping of keys to values, got list"
    )


def test_environment_overrides_any_key_with_conversion_to_its_type():
    settings = load_settings(
        CONFIG_FILE,
        environ={
            "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
            "FRAUDGUARD__TOPICS__TRANSACTIONS__PARTITIONS": "12",
            "FRAUDGUARD__TOPICS__USERS__COMPACTED": "false",
            "FRAUDGUARD__KAFKA__CLIENT_PROPERTIES": '{"linger.ms": 20}',
            "FRAUDGUARD__KAFKA__SASL_PASSWORD": "s3cret",
            "OTHER_VARIABLE": "ignored",
        },
    )
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.topics.transactions.partitions == 12
    assert settings.topics.users.compacted is False
    assert settings.kafka.client_properties == {"linger.ms": 20}
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"


def test_a_bad_environment_override_names_the_variable_not_the_file():
    message = error_of(
        CONFIG_FILE,
        {"FRAUDGUARD__TOPICS__ALERTS__PARTITIONS": "many", "FRAUDGUARD__KAFKA__BOGUS": "1"},
    )
    assert message.splitlines()[1:] == [
        "  environment variable FRAUDGUARD__KAFKA__BOGUS: kafka.bogus: unknown key (expected one of: "
        "bootstrap_servers, client_properties, java_client_properties, sasl_mechanism, sasl_password, "
        "sasl_username, security_protocol, ssl_ca_location, ssl_certificate_location, ssl_key_location, "
        "ssl_key_password)",
        "  environment variable FRAUDGUARD__TOPICS__ALERTS__PARTITIONS: topics.alerts.partitions: "
        "expected an integer, got 'many'",
    ]


def test_a_secret_is_never_echoed_in_an_error():
    message = error_of(CONFIG_FILE, {"FRAUDGUARD__KAFKA__SASL_PASSWORD": "[1, 2]"})
    assert "1, 2" not in message
    assert message.endswith("kafka.sasl_password: expected a string, got (hidden)")


def test_relative_runtime_dir_is_relative_to_the_config_file(tmp_path):
    path = write(tmp_path, "runtime_dir: state\n")
    assert load_settings(path, environ={}).runtime_dir == tmp_path / "state"


def test_locations_follow_the_runtime_dir_unless_set(tmp_path):
    path = write(tmp_path, "runtime_dir: state\nstream:\n  state_uri: checkpoints\n")
    settings = load_settings(path, environ={"FRAUDGUARD__AIRFLOW__HOME": "/opt/airflow"})
    runtime = tmp_path / "state"
    assert settings.stream.scored_history_dir == runtime / "scored"
    assert settings.stream.state_uri == (tmp_path / "checkpoints").as_uri()
    assert settings.alerts.database_url == f"sqlite:///{runtime}/alerts/alerts.db"
    assert settings.alerts.labels_path == runtime / "alerts" / "confirmed_labels.parquet"
    assert settings.mlflow.tracking_uri == f"sqlite:///{runtime}/mlflow/mlflow.db"
    assert settings.airflow.home == Path("/opt/airflow")
    remote = load_settings(path, environ={"FRAUDGUARD__STREAM__STATE_URI": "s3a://bucket/fg"})
    assert remote.stream.state_uri == "s3a://bucket/fg", "a URI is used as it is"


def test_the_committed_config_file_documents_every_key_but_secrets():
    def leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        found = set()
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                found |= leaves(field.annotation, (*prefix, name))
            else:
                found.add((*prefix, name))
        return found

    def present(tree: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        found = set()
        for name, value in tree.items():
            found.add((*prefix, name))
            if isinstance(value, dict) and not name.endswith("client_properties"):
                found |= present(value, (*prefix, name))
        return found

    documented = present(yaml.safe_load(CONFIG_FILE.read_text()))
    undocumented = leaves(Settings) - set(secret_key_paths(Settings)) - documented
    assert not undocumented, f"add these keys to {CONFIG_FILE.name}: {sorted(undocumented)}"


def test_a_secret_written_in_a_config_file_is_refused(tmp_path):
    path = write(tmp_path, "kafka:\n  sasl_password: hunter2\n")
    assert error_of(path) == (
        f"{path}: kafka.sasl_password: secrets are not read from files; "
        "set the environment variable FRAUDGUARD__KAFKA__SASL_PASSWORD instead"
    )


def _leaf_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in data.items():
        nested = isinstance(value, dict) and value and not name.endswith(("properties", "conf"))
        keys |= _leaf_keys(value, f"{prefix}{name}.") if nested else {f"{prefix}{name}"}
    return keys


def test_the_configuration_reference_is_generated_from_the_code_and_names_every_key():
    generated = reference_markdown()
    assert (PROJECT_ROOT / "docs" / "configuration.md").read_text() == generated, (
        "docs/configuration.md is stale: `fraudguard docs config > docs/configuration.md`"
    )
    rows = {line.split("`")[1] for line in generated.splitlines() if line.startswith("| `")}
    assert rows == _leaf_keys(Settings().model_dump(mode="json"))
    assert "| `kafka.sasl_password` | *secret* or null |" in generated
    assert "| `topics.users.partitions` | integer (≥ 1, ≤ 1000) | `3` |" in generated
