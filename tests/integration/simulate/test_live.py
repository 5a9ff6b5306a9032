"""Live mode against a real Kafka broker of its own: every record arrives, entities before their use,
browsing events before the payments they lead to; a new rate applies from when it is set."""

from __future__ import annotations

import json
import threading
import time

import pytest
from confluent_kafka import TopicPartition

from fraudguard.config import TopicRole
from fraudguard.kafka.clients import make_consumer
from fraudguard.kafka.topics import describe_topics, ensure_topics
from fraudguard.simulate.live import LivePublisher, live_world
from fraudguard.simulate.timeline import FakerWorldTimeline
from tests.conftest import own_kafka, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_broker(make_runtime):
    with own_kafka(make_runtime) as running:
        yield running


def test_live_mode_delivers_every_record_and_publishes_entities_before_their_use(fresh_broker):
    settings, env = fresh_broker
    env = {**env, "FRAUDGUARD__SIMULATOR__USERS": "300", "FRAUDGUARD__SIMULATOR__MERCHANTS": "80"}
    # A rate a slow 2-core machine sustains with room to spare: this checks the pacing, not the machine.
    result = run_cli("simulate", "live", "--rate", "1000", "--duration", "3", "--json", env=env)
    report = json.loads(result.stdout)

    assert report["failed"] == {}
    assert report["achieved_rate"] == pytest.approx(1000, rel=0.05)
    appended = {info.name: sum(p.high for p in info.partitions) for info in describe_topics(settings)}
    for role in (TopicRole.USERS, TopicRole.MERCHANTS, TopicRole.TRANSACTIONS, TopicRole.SESSIONS):
        topic = settings.topics.get(role).name
        assert appended[topic] == report["generated"][topic] == report["delivered"][topic] > 0

    users = _read_all(settings, settings.topics.get(TopicRole.USERS).name)
    merchants = _read_all(settings, settings.topics.get(TopicRole.MERCHANTS).name)
    transactions = _read_all(settings, settings.topics.get(TopicRole.TRANSACTIONS).name)
    user_seen = _first_timestamp(users, "user_id")
    merchant_seen = _first_timestamp(merchants, "merchant_id")
    late = [
        tx
        for sent_ms, tx in transactions
        if user_seen.get(tx["user_id"], float("inf")) > sent_ms
        or merchant_seen.get(tx["merchant_id"], float("inf")) > sent_ms
    ]
    assert not late, f"{len(late)} transactions arrived before their user or merchant, e.g. {late[0]}"

    checkouts = {
        event["transaction_id"]: sent_ms
        for sent_ms, event in _read_all(settings, settings.topics.get(TopicRole.SESSIONS).name)
        if event["event_type"] == "checkout"
    }
    online = [(sent_ms, tx) for sent_ms, tx in transactions if tx["channel"] == "online"]
    assert online and all(checkouts[tx["transaction_id"]] <= sent_ms for sent_ms, tx in online), (
        "an online payment arrived before its session's checkout"
    )
    assert all(headers == b"transaction.v2" for headers in _schema_headers(settings))


def test_a_new_rate_paces_the_transactions_from_when_it_is_set(fresh_broker):
    settings, _ = fresh_broker
    ensure_topics(settings)
    publisher = LivePublisher(settings)
    world = live_world(settings.simulator, users=300, merchants=80)
    traffic = threading.Thread(target=publisher.run, args=(FakerWorldTimeline(world), 20, None), daemon=True)
    traffic.start()
    deadline = time.monotonic() + 60
    while publisher.report.transactions < 40:  # two seconds at the first rate
        assert traffic.is_alive() and time.monotonic() < deadline, (
            "the traffic stopped before 40 transactions"
        )
        time.sleep(0.05)
    changed_ms = time.time() * 1000
    publisher.set_rate(400)
    time.sleep(2)
    publisher.stop()
    traffic.join(timeout=30)

    sent = [ms for ms, _ in _read_all(settings, settings.topics.get(TopicRole.TRANSACTIONS).name)]
    before = sum(changed_ms - 1000 <= ms < changed_ms for ms in sent)
    after = sum(changed_ms + 500 <= ms < changed_ms + 1500 for ms in sent)
    assert 10 <= before <= 30, f"{before} transactions in the second before the change, at 20 a second"
    assert 300 <= after <= 500, f"{after} transactions in a second after the change to 400 a second"


def _read_all(settings, topic: str) -> list[tuple[int, dict]]:
    consumer = make_consumer(settings, group_id="live-test")
    info = describe_topics(settings, [topic])[0]
    consumer.assign([TopicPartition(topic, p.partition, p.low) for p in info.partitions])
    wanted = sum(p.high - p.low for p in info.partitions)
    messages = []
    while len(messages) < wanted:
        message = consumer.poll(10)
        assert message is not None, f"{topic}: read {len(messages)} of {wanted}"
        messages.append((message.timestamp()[1], json.loads(message.value())))
    consumer.close()
    return messages


def _first_timestamp(messages: list[tuple[int, dict]], key: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for sent_ms, record in messages:
        seen[record[key]] = min(seen.get(record[key], sent_ms), sent_ms)
    return seen


def _schema_headers(settings):
    consumer = make_consumer(settings, group_id="live-headers")
    consumer.assign([TopicPartition(settings.topics.get(TopicRole.TRANSACTIONS).name, 0, 0)])
    message = consumer.poll(10)
    consumer.close()
    return [dict(message.headers())["schema"]]
