"""The traffic and stream-control task functions against the real local Kafka broker."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from fraudguard.config import TopicRole, load_settings
from fraudguard.kafka.clients import bootstrap_servers
from fraudguard.kafka.topics import create_topics
from fraudguard.orchestration.stream_lifecycle import StreamAction, control_stream, restart_if_running
from fraudguard.orchestration.traffic import publish_traffic
from fraudguard.schemas import TRANSACTION
from tests.conftest import CONFIG_FILE, consume_all

pytestmark = [pytest.mark.integration]


@pytest.fixture
def settings(broker, tmp_path):
    broker_settings, _ = broker
    suffix = uuid.uuid4().hex[:8]
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(tmp_path),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
        "FRAUDGUARD__SIMULATOR__USERS": "200",
        "FRAUDGUARD__SIMULATOR__MERCHANTS": "40",
        **{f"FRAUDGUARD__TOPICS__{r.value.upper()}__NAME": f"{r.value}-{suffix}" for r in TopicRole},
    }
    settings = load_settings(CONFIG_FILE, environ=environ)
    create_topics(broker_settings, list(settings.topics.all().values()))
    return settings


def test_traffic_is_published_at_the_rate_for_the_duration_with_the_chosen_mix(settings):
    mix = {"account_takeover": 0, "card_testing": 1.0, "compromised_merchant": 0, "impossible_travel": 0,
           "fresh_account_abuse": 0}  # fmt: skip
    report = publish_traffic(settings, rate=400, duration_s=3, fraud_rate=0.2, scenario_mix=mix)
    transactions = consume_all(settings, TopicRole.TRANSACTIONS)
    assert len(transactions) == report["transactions"] == report["delivered"][transactions[0].topic()]
    assert 1000 <= report["transactions"] <= 1300 and report["failed_total"] == 0
    records = [TRANSACTION.decode(message.value()) for message in transactions]
    scenarios = {record["fraud_scenario"] for record in records if record["is_fraud"]}
    assert scenarios <= {"card_testing"} and sum(r["is_fraud"] for r in records) > 0.05 * len(records)
    assert consume_all(settings, TopicRole.USERS), "users go out before their transactions"


def test_an_invalid_scenario_mix_is_refused_before_anything_is_sent(settings):
    with pytest.raises(ValidationError, match="sum to 1"):
        publish_traffic(settings, rate=100, duration_s=1, scenario_mix={"card_testing": 0.5})
    assert consume_all(settings, TopicRole.TRANSACTIONS) == []


def test_stream_actions_on_a_job_that_never_ran(settings):
    assert control_stream(settings, str(CONFIG_FILE), "status") == {"alive": False, "state": "never started"}
    assert control_stream(settings, str(CONFIG_FILE), StreamAction.STOP)["alive"] is False
    outcome = restart_if_running(settings, str(CONFIG_FILE))
    assert outcome["restarted"] is False and outcome["reason"] == "the stream is not running"
    with pytest.raises(ValueError, match="'pause'"):
        control_stream(settings, str(CONFIG_FILE), "pause")
    assert control_stream(settings, str(CONFIG_FILE), "status", dataset="paysim")["state"] == "never started"
