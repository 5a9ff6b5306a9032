"""The development broker as a separate process, reached over TCP by clients in other processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from confluent_kafka import TopicPartition

from fraudguard.config import TopicRole
from fraudguard.kafka.clients import make_consumer, make_producer
from fraudguard.kafka.devbroker import control
from fraudguard.kafka.devbroker.state import running_broker
from fraudguard.kafka.topics import describe_topics, ensure_topics
from fraudguard.paths import RuntimePaths
from tests.conftest import PROJECT_ROOT, run_cli

pytestmark = pytest.mark.integration
PEER = Path(__file__).with_name("kafka_peer.py")


def peer(env: dict[str, str], *args: object) -> dict:
    result = subprocess.run(
        [sys.executable, str(PEER), *map(str, args)],
        env={**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_every_registry_topic_exists_with_its_configured_partitions(broker):
    settings, _ = broker
    described = {info.name: len(info.partitions) for info in describe_topics(settings)}
    configured = {topic.name: topic.partitions for topic in settings.topics.all().values()}
    assert described == configured


def test_produce_in_one_process_consume_in_others_through_a_group_with_committed_offsets(broker):
    settings, env = broker
    topic = settings.topics.get(TopicRole.ALERTS).name
    assert peer(env, "produce", topic, 300) == {"delivered": 300, "failed": 0}

    first = peer(env, "consume", topic, "group-a", 120, 15)["values"]
    rest = peer(env, "consume", topic, "group-a", 180, 15)["values"]

    assert len(first) == 120
    assert sorted(first + rest, key=int) == [str(n) for n in range(300)]  # nothing lost or repeated
    consumer = make_consumer(settings, group_id="group-a")
    partitions = [TopicPartition(topic, p) for p in range(settings.topics.get(TopicRole.ALERTS).partitions)]
    committed = consumer.committed(partitions, timeout=10)
    highs = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
    consumer.close()
    assert [tp.offset for tp in committed] == highs


def test_a_producer_survives_a_broker_going_down_and_up_without_losing_a_message(broker):
    settings, _ = broker
    topic = settings.topics.get(TopicRole.DEAD_LETTER).name  # one partition: one leader to take down
    leader = describe_topics(settings, [topic])[0].partitions[0].leader
    _, high_before = _watermarks(settings, topic)
    producer = make_producer(settings, **{"message.timeout.ms": 60000})
    delivered: list[bool] = []

    def send(start: int, count: int) -> None:
        for number in range(start, start + count):
            producer.produce(topic, value=str(number), on_delivery=lambda e, _m: delivered.append(e is None))
            producer.poll(0)

    send(0, 500)
    producer.flush(30)
    control.set_broker_down(settings, leader)
    send(500, 500)
    producer.poll(1.0)
    pending_while_down = len(producer)
    threading.Timer(1.0, control.set_broker_up, args=(settings, leader)).start()
    remaining = producer.flush(60)

    assert pending_while_down > 0, "the broker outage did not hold any message back"
    assert remaining == 0 and delivered.count(True) == 1000
    _, high_after = _watermarks(settings, topic)
    assert high_after - high_before == 1000  # idempotent producer: no duplicate on retry
    values = _read(settings, topic, high_before, high_after)
    assert values == [str(n) for n in range(1000)]


def test_topics_ensure_creates_a_missing_registry_topic_and_reports_the_rest(broker):
    settings, _ = broker
    renamed = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(
                update={"dead_letter": settings.topics.dead_letter.model_copy(update={"name": "dlq-v2"})}
            )
        }
    )
    asked: list[list[str]] = []

    def recording(topics):
        asked.append([t.name for t in topics])
        return control.create_topics(renamed, topics)

    reports = {report.name: report for report in ensure_topics(renamed, create=recording)}

    assert asked == [["dlq-v2"]]
    assert reports["dlq-v2"].action == "created"
    assert {r.action for name, r in reports.items() if name != "dlq-v2"} == {"exists"}
    assert [len(i.partitions) for i in describe_topics(renamed, ["dlq-v2"])] == [1]
    again = run_cli("topics", "ensure", env={"FRAUDGUARD__RUNTIME_DIR": str(settings.runtime_dir)})
    assert "created" not in again.stdout and again.stdout.count("exists") == 5


def test_a_second_start_reports_the_running_broker(broker):
    settings, env = broker
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    result = run_cli("broker", "start", "--detach", env=env)
    assert f"already running at {state.bootstrap_servers} (pid {state.pid})" in result.stdout
    assert running_broker(RuntimePaths(settings.runtime_dir).broker_state) == state


def test_status_shows_address_topics_partitions_and_watermarks(broker):
    settings, env = broker
    status = json.loads(run_cli("broker", "status", "--json", env=env).stdout)
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    assert status["bootstrap_servers"] == state.bootstrap_servers
    assert "control_key" not in status
    topics = {t["name"]: t["partitions"] for t in status["topics"]}
    assert len(topics["transactions"]) == 6
    assert all({"low", "high", "leader"} <= set(p) for p in topics["transactions"])


def test_a_detached_broker_serves_the_callers_effective_settings(make_runtime):
    settings, _ = make_runtime()
    topics = settings.topics.model_copy(
        update={"users": settings.topics.users.model_copy(update={"name": "users-v7", "partitions": 7})}
    )
    settings = settings.model_copy(update={"topics": topics})
    control.start_detached(settings)
    try:
        assert [len(info.partitions) for info in describe_topics(settings, ["users-v7"])] == [7]
    finally:
        control.stop(settings)


@pytest.mark.parametrize("how", ["cli stop", "SIGTERM"])
def test_stopping_leaves_no_process_and_nothing_listening(make_runtime, how):
    settings, env = make_runtime()
    run_cli("broker", "start", "--detach", env=env)
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    ports = [int(address.rsplit(":", 1)[1]) for address in state.bootstrap_servers.split(",")]
    ports.append(state.control_port)

    if how == "cli stop":
        assert "stopped" in run_cli("broker", "stop", env=env).stdout
    else:
        process = psutil.Process(state.pid)
        process.terminate()
        process.wait(15)

    assert not state.is_alive()
    assert not RuntimePaths(settings.runtime_dir).broker_state.exists()
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    assert run_cli("broker", "status", env=env, check=False).returncode == 3


def test_clients_name_the_missing_broker_when_none_runs(make_runtime):
    _, env = make_runtime()
    result = run_cli("topics", "list", env=env, check=False)
    assert result.returncode == 1
    assert "the development broker is not running" in result.stderr
    assert "fraudguard broker start --detach" in result.stderr


def _watermarks(settings, topic: str) -> tuple[int, int]:
    consumer = make_consumer(settings, group_id="watermarks")
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()


def _read(settings, topic: str, start: int, end: int) -> list[str]:
    consumer = make_consumer(settings, group_id="reader")
    consumer.assign([TopicPartition(topic, 0, start)])
    values = []
    try:
        while len(values) < end - start:
            message = consumer.poll(10)
            assert message is not None, f"read {len(values)} of {end - start}"
            values.append(message.value().decode())
    finally:
        consumer.close()
    return values
