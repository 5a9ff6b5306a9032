"""What `fraudguard broker status` shows: address, memory, and every topic's partitions and watermarks."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from fraudguard.config import Settings
from fraudguard.kafka.clients import make_admin
from fraudguard.kafka.devbroker.state import BrokerState, running_broker
from fraudguard.kafka.topics import TopicInfo, describe_topics, existing_topics
from fraudguard.paths import RuntimePaths


@dataclass(frozen=True)
class BrokerStatus:
    state: BrokerState
    rss_bytes: int | None
    topics: list[TopicInfo]


def broker_status(settings: Settings) -> BrokerStatus | None:
    """None when no development broker runs."""
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    if state is None:
        return None
    try:
        rss = psutil.Process(state.pid).memory_info().rss
    except psutil.Error:
        rss = None
    names = sorted(existing_topics(make_admin(settings)))
    return BrokerStatus(state, rss, describe_topics(settings, names))
