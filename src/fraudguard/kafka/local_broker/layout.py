"""The local cluster's layout, fixed when its storage is formatted: id, nodes, ports, folders.

It is written once to `<runtime_dir>/kafka/cluster.json` and read by every process that needs the
cluster's address, so the ports stay the same across restarts (the KRaft quorum records them).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from fraudguard.config import Settings
from fraudguard.paths import RuntimePaths
from fraudguard.ports import HOST, free_ports, in_use


@dataclass(frozen=True)
class Node:
    id: int
    port: int  # clients and the other brokers
    controller_port: int  # the KRaft quorum


@dataclass(frozen=True)
class ClusterLayout:
    cluster_id: str
    nodes: tuple[Node, ...]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    @property
    def replication_factor(self) -> int:
        """Default replication of topics, internal ones included: 3 on three nodes or more."""
        return min(3, len(self.nodes))

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.replication_factor >= 3 else 1

    def node(self, node_id: int) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise ValueError(f"expected a node id of 1..{len(self.nodes)}, got {node_id}")

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> ClusterLayout | None:
        """None when no cluster was formatted under this runtime folder."""
        try:
            raw = json.loads(path.read_text())
            return cls(raw["cluster_id"], tuple(Node(**node) for node in raw["nodes"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}: unreadable cluster layout ({error}); remove {path.parent} to start over"
            ) from None


def new_layout(nodes: int, first_port: int) -> ClusterLayout:
    """Node N listens on first_port + 2(N-1) and its controller on the next port; first_port 0 picks
    free ports. A port already in use is refused here, naming it, rather than in a broker's log."""
    ports = free_ports(2 * nodes) if first_port == 0 else list(range(first_port, first_port + 2 * nodes))
    busy = [port for port in ports if in_use(port)]
    if busy:
        raise ValueError(
            f"port {busy[0]} on {HOST} is already in use (another Kafka?): set local_broker.port to a "
            "free range, or 0 for any free ports"
        )
    return ClusterLayout(
        _kafka_uuid(),
        tuple(Node(n + 1, ports[2 * n], ports[2 * n + 1]) for n in range(nodes)),
    )


def server_properties(layout: ClusterLayout, node: Node, data_dir: Path) -> dict[str, str | int]:
    """One node's server.properties: a combined broker and controller on loopback."""
    replicas, min_isr = layout.replication_factor, layout.min_insync_replicas
    voters = ",".join(f"{n.id}@{HOST}:{n.controller_port}" for n in layout.nodes)
    return {
        "process.roles": "broker,controller",
        "node.id": node.id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "auto.create.topics.enable": "false",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 12,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 12,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
    }


def node_dir(settings: Settings, node_id: int) -> Path:
    return RuntimePaths(settings.runtime_dir).kafka / f"node-{node_id}"


def layout_file(settings: Settings) -> Path:
    return RuntimePaths(settings.runtime_dir).kafka / "cluster.json"


def _kafka_uuid() -> str:
    """A cluster id as Kafka's own `random-uuid` makes it (URL-safe base64, not starting with '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
