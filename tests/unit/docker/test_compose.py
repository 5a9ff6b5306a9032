"""The deployment files, checked statically (Docker Compose cannot run on the development machines): the
compose file's settings load into the platform's configuration, its secrets come only from docker/.env,
its ports stay on loopback, and every name it refers to exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pyspark
import pytest
import yaml

from fraudguard.cli import cli
from fraudguard.config import load_settings
from tests.conftest import CONFIG_FILE, PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
VARIABLE = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")
SECRETS = {"POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY", "ALERTS_API_TOKEN",
           "ALERTS_ADMIN_PASSWORD", "ALERTS_SESSION_SECRET"}  # fmt: skip


def example_env() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def compose() -> dict:
    text = (DOCKER / "compose.yaml").read_text()
    assert set(VARIABLE.findall(text)) <= set(example_env()), "a variable is missing from .env.example"
    return yaml.safe_load(VARIABLE.sub(lambda m: example_env()[m.group(1)], text))


def environment(service: dict) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def test_the_deployment_has_every_component(compose):
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4")
    assert environment(services["kafka"])["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["postgres"]["image"].startswith("postgres:")
    assert {"mlflow", "spark-master", "spark-worker", "stream", "alerts", "airflow-api", "airflow-scheduler",
            "airflow-dag-processor", "topics", "traffic"} <= set(services)  # fmt: skip
    for name, service in services.items():
        for target in service.get("depends_on") or {}:
            assert target in services, f"{name} depends on unknown {target}"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], f"{name}: volume {source}"
            if source.startswith("./"):
                assert (DOCKER / source).exists()


def test_fraudguard_services_load_the_same_configuration_from_overrides(compose):
    for name, service in compose["services"].items():
        env = environment(service)
        if not any(key.startswith("FRAUDGUARD__") for key in env):
            continue
        settings = load_settings(CONFIG_FILE, environ=env)  # raises on an unknown key or a bad value
        assert settings.kafka.bootstrap_servers == "kafka:9092", name
        assert settings.mlflow.tracking_uri == "http://mlflow:5000", name
        assert settings.spark.master == "spark://spark-master:7077", name
        assert settings.alerts.database_url.startswith("postgresql+psycopg://"), name
    stream = load_settings(CONFIG_FILE, environ=environment(compose["services"]["stream"]))
    assert stream.spark.conf["spark.driver.host"] == "stream"


def test_commands_exist(compose):
    for name, service in compose["services"].items():
        command = service.get("command")
        if isinstance(command, list) and command[0] == "fraudguard":
            assert cli.get_command(click.Context(cli), command[1]), f"{name}: fraudguard {command[1]}"
        if isinstance(command, list) and command[0] == "spark-class":  # installed by the pyspark wheel
            assert (Path(pyspark.__file__).parent / "bin" / "spark-class").exists(), name


def test_secrets_come_from_the_env_file_and_ports_stay_on_loopback(compose):
    text = (DOCKER / "compose.yaml").read_text()
    for secret in SECRETS:
        assert "${" + secret in text
    assert re.search(r"(?i)password\s*[:=]\s*[\"']?\w", text.replace("${POSTGRES_PASSWORD", "")) is None
    for name, service in compose["services"].items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()


def test_the_airflow_settings_are_real_airflow_options(compose, tmp_path):
    """A misspelt AIRFLOW__SECTION__KEY is silently ignored by Airflow: check each against its options."""
    env = environment(compose["services"]["airflow-scheduler"])
    options = [[part.lower() for part in key.split("__")[1:]] for key in env if key.startswith("AIRFLOW__")]
    check = (
        "import json, sys\n"
        "from airflow.configuration import retrieve_configuration_description as described\n"
        "known = described()\n"
        "options = json.loads(sys.argv[1])\n"
        "print(json.dumps([o for o in options if o[1] not in known.get(o[0], {}).get('options', {})]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, json.dumps(options)],
        capture_output=True,
        text=True,
        env={"AIRFLOW_HOME": str(tmp_path)},
        check=True,
    )
    assert len(options) >= 8 and json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_image_installs_the_pinned_requirements_and_the_package(compose):
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \./", dockerfile, re.M):
        for path in source.split():
            assert (PROJECT_ROOT / path).exists(), path
    assert "-c constraints.txt" in dockerfile and "openjdk-17" in dockerfile
    pins = (DOCKER / "requirements-docker.txt").read_text()
    assert re.search(r"^psycopg\[binary\]==\d", pins, re.M)
