"""The local Apache Kafka as real separate Java processes, reached over TCP by clients in other processes:
topics through the Admin API, consumer groups, persistence, crashes, a three-node cluster, and an
independent client (kcat)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import ConfigResource

from fraudguard.config import TopicRole, TopicSettings
from fraudguard.kafka.clients import client_config, make_admin, make_consumer, make_producer
from fraudguard.kafka.local_broker import control
from fraudguard.kafka.topics import create_topics, describe_topics, ensure_topics
from tests.conftest import FRAUDGUARD, PROJECT_ROOT, own_kafka, run_cli

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


def new_topic(settings, partitions: int = 3) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    assert create_topics(settings, [TopicSettings(name=name, partitions=partitions)]) == {name: None}
    return name


def read_committed(settings, topic: str) -> dict[int, list[int]]:
    """Every value of the topic per partition, as a `read_committed` consumer sees them."""
    consumer = Consumer(
        client_config(
            settings, **{"group.id": f"reader-{uuid.uuid4().hex[:6]}", "isolation.level": "read_committed"}
        )
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        values: dict[int, list[int]] = {p: [] for p in partitions}
        deadline = time.monotonic() + 60
        while sum(map(len, values.values())) < sum(ends.values()) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                values[message.partition()].append(int(message.value()))
        return values
    finally:
        consumer.close()


def produce_paced(settings, topic: str, count: int, rate: float, delivered: list) -> threading.Thread:
    """Produce 0..count-1 (idempotent, acks=all) at about `rate` per second in a thread."""
    producer = make_producer(settings, **{"message.timeout.ms": 120_000})

    def run() -> None:
        began = time.monotonic()
        for number in range(count):
            producer.produce(topic, key=str(number % 13), value=str(number),
                             on_delivery=lambda error, _m: delivered.append(error is None))  # fmt: skip
            producer.poll(0)
            ahead = began + number / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        assert producer.flush(120) == 0

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def assert_exactly_once(values: dict[int, list[int]], count: int) -> None:
    every = sorted(v for part in values.values() for v in part)
    assert every == list(range(count)), (
        f"{count - len(set(every))} lost, {len(every) - len(set(every))} duplicated"
    )
    assert all(part == sorted(part) for part in values.values()), "order within a partition changed"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def kafka_processes(settings) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with_runtime = str(settings.runtime_dir) in " ".join(process.info["cmdline"] or [])
        if with_runtime and "kafka.Kafka" in (process.info["cmdline"] or []):
            found.append(process)
    return found


def ports(settings) -> list[int]:
    return [port for node in control.layout(settings).nodes for port in (node.port, node.controller_port)]


# The shared session broker.


def test_registry_topics_are_made_with_their_partitions_compaction_and_retention(broker):
    settings, _ = broker
    described = {info.name: len(info.partitions) for info in describe_topics(settings)}
    configured = {topic.name: topic.partitions for topic in settings.topics.all().values()}
    assert described == configured
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in settings.topics.all().values()]
    admin = make_admin(settings)  # kept: a collected client fails its pending requests
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
    for topic in settings.topics.all().values():
        config = configs[topic.name]
        assert config["cleanup.policy"].value == ("compact" if topic.compacted else "delete"), topic.name
        if topic.retention_hours:
            assert int(config["retention.ms"].value) == topic.retention_hours * 3_600_000, topic.name


def test_produce_in_one_process_consume_in_others_through_a_group_with_committed_offsets(broker):
    settings, env = broker
    topic = new_topic(settings)
    assert peer(env, "produce", topic, 300) == {"delivered": 300, "failed": 0}

    first = peer(env, "consume", topic, "group-a", 120, 15)["values"]
    rest = peer(env, "consume", topic, "group-a", 180, 15)["values"]

    assert len(first) == 120
    assert sorted(first + rest, key=int) == [str(n) for n in range(300)]  # nothing lost or repeated
    consumer = make_consumer(settings, group_id="group-a")
    partitions = [TopicPartition(topic, p) for p in range(3)]
    committed = consumer.committed(partitions, timeout=10)
    highs = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions]
    consumer.close()
    assert [tp.offset for tp in committed] == highs


def test_a_consumer_leaving_its_group_hands_its_partitions_over_within_seconds(broker):
    """LeaveGroup on close: the other member takes over at once, not after the 45 s session timeout."""
    settings, _ = broker
    topic = new_topic(settings, partitions=6)
    group = f"leave-{uuid.uuid4().hex[:6]}"
    members = [make_consumer(settings, group) for _ in range(2)]
    for member in members:
        member.subscribe([topic])
    deadline = time.monotonic() + 30
    while not all(member.assignment() for member in members) and time.monotonic() < deadline:
        for member in members:
            member.poll(0.1)
    assert all(member.assignment() for member in members), "the group never shared its partitions"

    members[0].close()
    left = time.monotonic()
    while len(members[1].assignment()) < 6 and time.monotonic() - left < 40:
        members[1].poll(0.1)
    took = time.monotonic() - left
    members[1].close()
    assert took < 5, f"the remaining member got every partition only after {took:.1f} s"


def test_topics_ensure_creates_a_missing_registry_topic_and_reports_the_rest(broker):
    settings, env = broker
    name = f"dlq-{uuid.uuid4().hex[:6]}"
    env = {**env, "FRAUDGUARD__TOPICS__DEAD_LETTER__NAME": name}
    dead_letter = settings.topics.dead_letter.model_copy(update={"name": name})
    renamed = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"dead_letter": dead_letter})}
    )
    reports = {report.name: report for report in ensure_topics(renamed)}

    assert reports[name].action == "created"
    assert {r.action for topic, r in reports.items() if topic != name} == {"exists"}
    assert [len(i.partitions) for i in describe_topics(renamed, [name])] == [1]
    again = run_cli("topics", "ensure", env=env)
    assert "created" not in again.stdout and again.stdout.count("exists") == len(TopicRole)


def test_ensure_reports_a_topic_whose_cleanup_policy_differs_from_the_config(broker):
    settings, _ = broker
    name = new_topic(settings, partitions=3)  # cleanup.policy delete
    users = settings.topics.users.model_copy(update={"name": name})
    as_table = settings.model_copy(update={"topics": settings.topics.model_copy(update={"users": users})})
    (users,) = [report for report in ensure_topics(as_table) if report.role == TopicRole.USERS]
    assert users.action == "exists" and users.detail == "cleanup.policy is delete, configured compact"


def test_a_second_start_reports_the_running_broker(broker):
    settings, env = broker
    pids = control.running_nodes(settings)
    result = run_cli("broker", "start", "--detach", env=env)
    assert f"already running at {control.layout(settings).bootstrap_servers}" in result.stdout
    assert control.running_nodes(settings) == pids


def test_status_shows_brokers_topics_watermarks_and_consumer_group_lag(broker):
    settings, env = broker
    topic = new_topic(settings, partitions=1)
    producer = make_producer(settings)
    for number in range(10):
        producer.produce(topic, value=str(number))
    assert producer.flush(10) == 0
    group = f"lagging-{uuid.uuid4().hex[:6]}"
    consumer = make_consumer(settings, group)
    consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    consumer.close()

    status = json.loads(run_cli("broker", "status", "--json", env=env).stdout)
    (node,) = control.layout(settings).nodes
    assert status["brokers"] == [{"id": 1, "address": f"127.0.0.1:{node.port}", "controller": True}]
    assert status["nodes"][0]["pid"] == control.running_nodes(settings)[1]
    assert status["nodes"][0]["rss_bytes"] > 50 * 2**20
    (described,) = [t for t in status["topics"] if t["name"] == topic]
    assert described["partitions"] == [
        {"partition": 0, "leader": 1, "replicas": [1], "isr": [1], "low": 0, "high": 10}
    ]
    (lagging,) = [g for g in status["groups"] if g["group"] == group]
    assert lagging["partitions"] == [{"topic": topic, "partition": 0, "committed": 4, "high": 10}]
    table = run_cli("broker", "status", env={**env, "COLUMNS": "200"}).stdout
    assert group in table and "controller" in table


def test_kcat_lists_the_brokers_and_consumes_the_alerts_topic(broker):
    """An independent Kafka client (Debian's kcat, librdkafka in C) sees what the platform sees."""
    settings, _ = broker
    address = control.layout(settings).bootstrap_servers
    listed = json.loads(subprocess.run(["kcat", "-b", address, "-L", "-J"], capture_output=True, text=True,
                                       timeout=30, check=True).stdout)  # fmt: skip
    assert [b["id"] for b in listed["brokers"]] == [1]
    alerts = settings.topics.get(TopicRole.ALERTS).name
    assert alerts in {t["topic"] for t in listed["topics"]}

    marker = uuid.uuid4().hex
    producer = make_producer(settings)
    for number in range(5):
        producer.produce(alerts, key=f"{marker}-{number}", value=json.dumps({"n": number}))
    assert producer.flush(10) == 0
    consumed = subprocess.run(
        ["kcat", "-b", address, "-C", "-t", alerts, "-o", "beginning", "-e", "-q", "-f", "%k %s\n"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip
    ours = sorted(line for line in consumed if line.startswith(marker))
    assert ours == [f'{marker}-{n} {{"n": {n}}}' for n in range(5)]


def test_clients_name_the_missing_broker_when_none_runs(make_runtime):
    _, env = make_runtime()
    result = run_cli("topics", "list", env=env, check=False)
    assert result.returncode == 1
    assert "the local Kafka broker is not running" in result.stderr
    assert "fraudguard broker start --detach" in result.stderr


# A single-node cluster of its own: stopped, restarted and killed.


@pytest.fixture(scope="module")
def own_broker(make_runtime):
    with own_kafka(make_runtime) as running:
        yield running


def test_data_survives_a_restart_and_stop_leaves_nothing_running(own_broker):
    settings, env = own_broker
    topic = new_topic(settings)
    delivered: list[bool] = []
    produce_paced(settings, topic, 1000, 1e9, delivered).join()
    assert delivered.count(True) == 1000

    assert "local Kafka stopped (node(s) 1)" in run_cli("broker", "stop", env=env).stdout
    assert kafka_processes(settings) == []
    assert not any(listening(port) for port in ports(settings))
    assert run_cli("broker", "status", env=env, check=False).returncode == 3

    restarted = run_cli("broker", "start", "--detach", env=env).stdout
    assert "local Kafka started" in restarted and "new storage" not in restarted
    assert_exactly_once(read_committed(settings, topic), 1000)


def test_kill_9_during_produce_loses_and_duplicates_nothing(own_broker):
    """The idempotent producer keeps retrying while the only broker is dead; after its restart every
    message is there once, in order within its partition."""
    settings, _ = own_broker
    topic = new_topic(settings)
    delivered: list[bool] = []
    producing = produce_paced(settings, topic, 8000, 2000, delivered)
    time.sleep(1.5)
    assert control.node_down(settings, 1, kill=True)
    assert kafka_processes(settings) == []
    time.sleep(1)
    control.node_up(settings, 1)
    producing.join(120)
    assert delivered.count(True) == 8000
    assert_exactly_once(read_committed(settings, topic), 8000)


def test_a_foreground_broker_stops_on_ctrl_c_and_leaves_nothing(make_runtime):
    settings, env = make_runtime()
    foreground = subprocess.Popen([*FRAUDGUARD, "broker", "start"], env={**os.environ, **env})
    deadline = time.monotonic() + 90
    while not (control.layout(settings) and all(listening(port) for port in ports(settings))):
        assert time.monotonic() < deadline and foreground.poll() is None, "the broker did not start"
        time.sleep(0.2)
    foreground.send_signal(signal.SIGINT)
    assert foreground.wait(60) == 0
    assert kafka_processes(settings) == []
    assert not any(listening(port) for port in ports(settings))


# Three nodes, one killed under load.


@pytest.fixture(scope="module")
def three_nodes(make_runtime):
    with own_kafka(make_runtime, "--nodes", "3", FRAUDGUARD__LOCAL_BROKER__HEAP="256m") as running:
        yield running


@pytest.mark.slow
def test_three_nodes_one_killed_for_10_s_under_load_lose_and_duplicate_nothing(three_nodes):
    settings, env = three_nodes
    assert len(kafka_processes(settings)) == 3
    topic = new_topic(settings, partitions=3)
    (info,) = describe_topics(settings, [topic])
    assert all(len(p.replicas) == 3 and len(p.isr) == 3 for p in info.partitions)
    admin = make_admin(settings)
    (config,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    assert config.result()["min.insync.replicas"].value == "2"

    delivered: list[bool] = []
    producing = produce_paced(settings, topic, 20_000, 1000, delivered)
    time.sleep(3)
    victim = info.partitions[0].leader
    run_cli("broker", "down", str(victim), "--kill", env=env)
    assert len(kafka_processes(settings)) == 2
    time.sleep(10)
    run_cli("broker", "up", str(victim), env=env, timeout=120)
    producing.join(180)

    assert delivered.count(True) == 20_000
    assert_exactly_once(read_committed(settings, topic), 20_000)
    status = json.loads(run_cli("broker", "status", "--json", env=env).stdout)
    assert [b["id"] for b in status["brokers"]] == [1, 2, 3]
