"""What `fraudguard broker status` shows of any cluster, through the Admin API: brokers and the
controller, topics with partitions, replicas and watermarks, consumer groups with their lag; and, for
the local cluster, each node's process."""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from fraudguard.config import Settings
from fraudguard.kafka.clients import bootstrap_servers, make_admin
from fraudguard.kafka.group_offsets import GroupLag, group_lags
from fraudguard.kafka.local_broker import control as local_broker
from fraudguard.kafka.topics import METADATA_TIMEOUT_S, TopicInfo, describe_topics, existing_topics


@dataclass(frozen=True)
class BrokerInfo:
    id: int
    address: str
    controller: bool


@dataclass(frozen=True)
class NodeProcess:
    """A node of the local cluster: its process (None when it is down) and memory."""

    id: int
    pid: int | None
    rss_bytes: int | None
    log: str


@dataclass(frozen=True)
class ClusterStatus:
    bootstrap_servers: str
    cluster_id: str | None
    brokers: list[BrokerInfo]
    topics: list[TopicInfo]
    groups: list[GroupLag]
    nodes: list[NodeProcess]  # empty for a cluster the platform did not start


def cluster_status(settings: Settings) -> ClusterStatus:
    """Raises BrokerNotRunning when the local cluster is configured and no node of it runs."""
    address = bootstrap_servers(settings)
    admin = make_admin(settings)
    described = admin.describe_cluster(request_timeout=METADATA_TIMEOUT_S).result(METADATA_TIMEOUT_S)
    controller = described.controller.id if described.controller else None
    brokers = [
        BrokerInfo(node.id, f"{node.host}:{node.port}", node.id == controller)
        for node in sorted(described.nodes, key=lambda n: n.id)
    ]
    topics = describe_topics(settings, sorted(existing_topics(admin)))
    return ClusterStatus(
        address, described.cluster_id, brokers, topics, group_lags(settings), _local_nodes(settings)
    )


def _local_nodes(settings: Settings) -> list[NodeProcess]:
    layout = local_broker.layout(settings) if settings.kafka.uses_local_broker else None
    if layout is None:
        return []
    running = local_broker.running_nodes(settings)
    nodes = []
    for node in layout.nodes:
        pid = running.get(node.id)
        try:
            rss = psutil.Process(pid).memory_info().rss if pid else None
        except psutil.Error:
            rss = None
        log = local_broker.node_service(settings, node.id).log_file
        nodes.append(NodeProcess(node.id, pid, rss, str(log)))
    return nodes
