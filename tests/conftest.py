"""Shared fixtures: one local Kafka broker process for the whole run, factories for the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fraudguard.config import Settings, TopicRole, load_settings
from fraudguard.kafka.local_broker import control as local_broker
from fraudguard.ports import free_ports

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = PROJECT_ROOT / "config" / "platform.yaml"
FRAUDGUARD = [sys.executable, "-m", "fraudguard"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real `fraudguard` command in its own process, as a user would."""
    result = subprocess.run(
        [*FRAUDGUARD, "--config", str(CONFIG_FILE), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"fraudguard {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def free_port() -> int:
    """A loopback port nothing listens on now (for a service a test starts)."""
    return free_ports(1)[0]


@pytest.fixture(scope="session")
def make_runtime(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[Settings, dict]]:
    """A fresh runtime folder and the settings and environment that point every process at it (a local
    Kafka started there takes free ports)."""

    def make(**overrides: str) -> tuple[Settings, dict[str, str]]:
        runtime = tmp_path_factory.mktemp("runtime")
        env = {"FRAUDGUARD__RUNTIME_DIR": str(runtime), "FRAUDGUARD__LOCAL_BROKER__PORT": "0", **overrides}
        return load_settings(CONFIG_FILE, environ=env), env

    return make


@contextmanager
def own_kafka(make_runtime, *start_args: str, **overrides: str) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A local Kafka of its own in a fresh runtime folder, started and stopped with the real CLI."""
    settings, env = make_runtime(**overrides)
    run_cli("broker", "start", "--detach", *start_args, env=env, timeout=180)
    assert local_broker.running_nodes(settings)
    try:
        yield settings, env
    finally:
        run_cli("broker", "stop", env=env, timeout=180)


@pytest.fixture(scope="session")
def broker(make_runtime) -> Iterator[tuple[Settings, dict[str, str]]]:
    """The local Kafka broker as a real separate process, shared by the whole test session."""
    with own_kafka(make_runtime) as running:
        yield running


@pytest.fixture(scope="session")
def postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """A real PostgreSQL server for the whole run (pgserver's binaries, on a Unix socket only); each call
    of the factory creates a fresh database and returns its SQLAlchemy URL."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgresql"), cleanup_mode="stop")
    socket_dir = server.get_uri().split("host=", 1)[1]
    created = 0

    def database() -> str:
        nonlocal created
        created += 1
        server.psql(f"CREATE DATABASE test_{created};")
        return f"postgresql+psycopg://postgres@/test_{created}?host={socket_dir}"

    yield database
    server.cleanup()


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test run (starting one costs ~8 s)."""
    from fraudguard.spark import spark_session

    session = spark_session(load_settings(CONFIG_FILE, environ={}), "fraudguard-tests")
    yield session
    session.stop()


def simulated_world(settings) -> tuple:
    """A Faker world's transactions, user versions, merchant versions and labels (those reported
    after the last day included) as pandas DataFrames."""
    import pyarrow as pa

    from fraudguard.simulate.timeline import FakerWorldTimeline

    timeline = FakerWorldTimeline(settings)
    users, merchants = timeline.initial()
    days = list(timeline.days())
    return (
        pa.concat_tables([d.transactions for d in days]).to_pandas(),
        pa.concat_tables([users, *(d.users for d in days)]).to_pandas(),
        pa.concat_tables([merchants, *(d.merchants for d in days)]).to_pandas(),
        pa.concat_tables([*(d.labels for d in days), timeline.labels.remaining()]).to_pandas(),
    )


def spark_frames(spark, transactions, users, merchants, labels) -> tuple:
    """As `Dataset.frames` returns them: the transactions labelled from `labels`."""
    from fraudguard.features.batch import with_labels
    from fraudguard.schemas import LABEL, MERCHANT, TRANSACTION, USER
    from fraudguard.spark import spark_schema

    labels = spark.createDataFrame(labels, spark_schema(LABEL))
    return (
        with_labels(spark.createDataFrame(transactions, spark_schema(TRANSACTION)), labels),
        spark.createDataFrame(users, spark_schema(USER)),
        spark.createDataFrame(merchants, spark_schema(MERCHANT)),
        labels,
    )


@pytest.fixture(scope="session")
def small_features(spark):
    """Training features of a small simulated world (800 users, 20 days, 2% fraud), cached."""
    from fraudguard.config.model import FeatureSettings, SimulatorSettings
    from fraudguard.features.batch import build_features

    world = simulated_world(SimulatorSettings(users=800, merchants=150, days=20, seed=21, fraud_rate=0.02))
    return build_features(*spark_frames(spark, *world), FeatureSettings()).cache()


def consume_all(settings, role: TopicRole) -> list:
    """Every message of the topic, read from the start to the high watermark of each partition."""
    from fraudguard.kafka.topics import read_topic

    return read_topic(settings, settings.topics.get(role).name)
