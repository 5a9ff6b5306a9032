"""Start, stop and inspect the local Kafka cluster's node processes from any process.

Each node is a plain `java ... kafka.Kafka server.properties` process run as a background service
(`fraudguard.background`), so it outlives the command that started it and is identified by pid and
start time. Storage is formatted (`kafka.tools.StorageTool format`) only when the runtime folder has no
cluster yet; after that, data and ports survive every restart.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fraudguard import jvm
from fraudguard.background import Background, BackgroundError
from fraudguard.config import Settings
from fraudguard.kafka.local_broker.layout import (
    ClusterLayout,
    Node,
    layout_file,
    new_layout,
    node_dir,
    server_properties,
)
from fraudguard.paths import RuntimePaths
from fraudguard.ports import HOST

LOG4J2 = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
# Every client and server config object logs all of its values at INFO: hundreds of lines per start.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""
JVM_OPTIONS = (
    "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
)  # fmt: skip
"""What Kafka's own start script passes, but the heap (from `local_broker.heap`)."""


class BrokerError(RuntimeError):
    """The local cluster could not be started, reached or changed; the message names the log."""


@dataclass(frozen=True)
class StartReport:
    layout: ClusterLayout
    formatted: bool  # True: new, empty storage (anything that kept Kafka offsets starts afresh)
    started: list[int]  # node ids started now; the others were running already
    seconds: float


def layout(settings: Settings) -> ClusterLayout | None:
    try:
        return ClusterLayout.read(layout_file(settings))
    except ValueError as error:
        raise BrokerError(str(error)) from None


def node_service(settings: Settings, node_id: int) -> Background:
    return Background(
        f"Kafka node {node_id}",
        node_dir(settings, node_id) / "process.json",
        RuntimePaths(settings.runtime_dir).kafka_log(node_id),
    )


def running_nodes(settings: Settings) -> dict[int, int]:
    """Node id -> pid of every node process alive now."""
    current = layout(settings)
    if current is None:
        return {}
    pids = {node.id: node_service(settings, node.id).pid() for node in current.nodes}
    return {node_id: pid for node_id, pid in pids.items() if pid is not None}


def start(settings: Settings, nodes: int | None = None) -> StartReport:
    """Start every node that is not running (formatting a new cluster first) and wait until all of them
    have joined. `nodes` (default `local_broker.nodes`) applies to a new cluster only."""
    began = time.monotonic()
    current, formatted = layout(settings), False
    if current is None:
        try:
            current = new_layout(nodes or settings.local_broker.nodes, settings.local_broker.port)
        except ValueError as error:
            raise BrokerError(str(error)) from None
        _format(settings, current)
        formatted = True
    elif nodes is not None and nodes != len(current.nodes):
        raise BrokerError(
            f"the local cluster in {layout_file(settings).parent} has {len(current.nodes)} node(s), not "
            f"{nodes}: stop it and remove that folder to make a new one"
        )
    started = [node.id for node in current.nodes if _start_node(settings, current, node)]
    _wait_for(settings, current, [node.id for node in current.nodes], began)
    return StartReport(current, formatted, started, time.monotonic() - began)


def stop(settings: Settings) -> list[int]:
    """SIGTERM every node at once (a lone survivor could not finish its controlled shutdown without
    the quorum), SIGKILL what is left after `local_broker.stop_timeout_s`. Returns the nodes stopped."""
    current = layout(settings)
    if current is None:
        return []
    services = {node.id: node_service(settings, node.id) for node in current.nodes}
    timeout = settings.local_broker.stop_timeout_s
    with ThreadPoolExecutor(len(services)) as pool:
        stopped = dict(zip(services, pool.map(lambda s: s.stop(timeout), services.values()), strict=True))
    return [node_id for node_id, was_running in stopped.items() if was_running]


def node_down(settings: Settings, node_id: int, kill: bool = False) -> bool:
    """Stop one node's process (SIGTERM; SIGKILL at once with `kill`). Whether it was running."""
    _known_node(settings, node_id)
    service = node_service(settings, node_id)
    return service.kill() if kill else service.stop(settings.local_broker.stop_timeout_s)


def node_up(settings: Settings, node_id: int) -> bool:
    """Start one node's process again and wait until it has joined. Whether it was started now."""
    began = time.monotonic()
    current, node = _known_node(settings, node_id)
    started = _start_node(settings, current, node)
    _wait_for(settings, current, [node_id], began)
    return started


def bootstrap_servers(settings: Settings) -> str | None:
    """The local cluster's address while at least one node runs; None otherwise."""
    current = layout(settings)
    return current.bootstrap_servers if current and running_nodes(settings) else None


def _known_node(settings: Settings, node_id: int) -> tuple[ClusterLayout, Node]:
    current = layout(settings)
    if current is None:
        raise BrokerError(f"no local Kafka cluster in {layout_file(settings).parent}: start it first")
    try:
        return current, current.node(node_id)
    except ValueError as error:
        raise BrokerError(str(error)) from None


def _format(settings: Settings, cluster: ClusterLayout) -> None:
    """Format every node's storage with the cluster id; the layout file is written last, so a failed
    format leaves no cluster behind."""
    java, classpath = jvm.java_executable(settings), jvm.classpath(settings, jvm.KAFKA_BROKER)

    def format_node(node: Node) -> None:
        properties = _write_node_config(settings, cluster, node)
        command = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={_log4j2(settings)}", "-cp", classpath,
                   "kafka.tools.StorageTool", "format", "--ignore-formatted",
                   "--cluster-id", cluster.cluster_id, "--config", properties]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()[-10:]
            raise BrokerError(f"formatting node {node.id}'s storage failed:\n" + "\n".join(output))

    with ThreadPoolExecutor(len(cluster.nodes)) as pool:
        list(pool.map(format_node, cluster.nodes))
    cluster.write(layout_file(settings))


def _start_node(settings: Settings, cluster: ClusterLayout, node: Node) -> bool:
    properties = _write_node_config(settings, cluster, node)
    heap = settings.local_broker.heap
    command = [
        jvm.java_executable(settings), f"-Xmx{heap}", f"-Xms{heap}", *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={_log4j2(settings)}",
        "-cp", jvm.classpath(settings, jvm.KAFKA_BROKER), "kafka.Kafka", str(properties),
    ]  # fmt: skip
    service = node_service(settings, node.id)
    try:
        # Readiness is the whole cluster's (a node's listener opens only once the quorum has formed).
        _, started = service.start(command, os.environ, ready=lambda: True, timeout_s=5)
    except BackgroundError as error:
        raise BrokerError(str(error)) from None
    return started


def _wait_for(settings: Settings, cluster: ClusterLayout, node_ids: list[int], began: float) -> None:
    """Until every listed node listens and is registered with the controller, and consumer groups can
    commit (the group coordinator has loaded its topic); a node that exits, or the timeout, raises
    naming the node's log."""
    timeout = settings.local_broker.start_timeout_s
    admin = None
    while True:
        for node_id in node_ids:
            service = node_service(settings, node_id)
            if service.pid() is None:
                raise BrokerError(f"{service.name} exited while starting; see {service.log_file}")
        if all(_listening(cluster.node(node_id).port) for node_id in node_ids):
            if admin is None:
                from confluent_kafka.admin import AdminClient

                admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
            try:
                registered = set(admin.list_topics(timeout=2).brokers)
                if set(node_ids) <= registered and _groups_served(cluster):
                    return
            except Exception:  # the cluster may not answer these requests yet
                pass
        if time.monotonic() - began > timeout:
            logs = ", ".join(str(node_service(settings, n).log_file) for n in node_ids)
            raise BrokerError(
                f"the local Kafka cluster was not ready within {timeout:g} s "
                f"(local_broker.start_timeout_s); see {logs}"
            )
        time.sleep(0.25)


def _groups_served(cluster: ClusterLayout) -> bool:
    """Whether a group's committed offsets can be read (the first request creates `__consumer_offsets`).
    Asked through a consumer: librdkafka's Admin ListConsumerGroupOffsets crashes the process when the
    coordinator answers NOT_COORDINATOR (confluentinc/librdkafka#5040)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "fraudguard-readiness"})
    try:
        consumer.committed([TopicPartition("__consumer_offsets", 0)], timeout=2)
        return True
    except KafkaException:
        return False
    finally:
        consumer.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0


def _write_node_config(settings: Settings, cluster: ClusterLayout, node: Node) -> str:
    folder = node_dir(settings, node.id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server.properties"
    properties = server_properties(cluster, node, folder / "data")
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
    return str(path)


def _log4j2(settings: Settings) -> str:
    path = RuntimePaths(settings.runtime_dir).kafka / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOG4J2)
    return str(path)
