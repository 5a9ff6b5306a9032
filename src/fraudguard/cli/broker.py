"""`fraudguard broker start|stop|status|down|up`: the local Apache Kafka cluster's lifecycle."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.kafka.cluster_status import ClusterStatus, cluster_status
from fraudguard.kafka.local_broker import control
from fraudguard.kafka.topics import ensure_topics

ABOUT = (
    "Apache Kafka (KRaft) from pinned Maven Central jars, as plain Java processes on 127.0.0.1: one "
    "node by default, each a broker and a controller. Data lives under <runtime_dir>/kafka and survives "
    "restarts; logs go to <runtime_dir>/logs/kafka-N.log. Point kafka.bootstrap_servers at any other "
    "cluster and nothing else changes."
)


@click.group(help=f"The local Kafka cluster, the embedded default.\n\n{ABOUT}")
def broker() -> None:
    pass


@broker.command()
@click.option("--detach", is_flag=True, help="Leave it running in the background and return once ready.")
@click.option("--nodes", type=click.IntRange(1, 5), default=None,
              help="Nodes of a new cluster (default local_broker.nodes; 3 for fault tests).")  # fmt: skip
@click.pass_obj
def start(obj: CliContext, detach: bool, nodes: int | None) -> None:
    """Start the local cluster (formatting its storage the first time) and ensure the registry topics."""
    settings = obj.settings
    if not detach:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with console.status("starting the local Kafka cluster ..."):
            report = control.start(settings, nodes)
            failed = [f"{r.name}: {r.detail}" for r in ensure_topics(settings) if r.action == "failed"]
        verb = "started" if report.started else "already running"
        new = ", new storage formatted" if report.formatted else ""
        console.print(
            f"local Kafka {verb} at [bold]{report.layout.bootstrap_servers}[/] "
            f"({len(report.layout.nodes)} node(s){new}; {report.seconds:.1f} s)"
        )
        if failed:
            raise CliError("could not create topics: " + "; ".join(failed))
        if detach:
            return
        console.print("Ctrl-C stops it")
        while control.running_nodes(settings):
            time.sleep(1)
        raise CliError(f"every node of the local cluster exited; see {settings.runtime_dir}/logs/kafka-*.log")
    except KeyboardInterrupt:
        pass
    finally:
        if not detach:
            control.stop(settings)


@broker.command()
@click.pass_obj
def stop(obj: CliContext) -> None:
    """Stop every node gracefully (SIGKILL after local_broker.stop_timeout_s); nothing is left running."""
    with console.status("stopping the local Kafka cluster ..."):
        stopped = control.stop(obj.settings)
    if stopped:
        console.print(f"local Kafka stopped (node(s) {', '.join(map(str, stopped))})")
    else:
        console.print("the local Kafka cluster is not running")


@broker.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Brokers, topics, partitions, watermarks and consumer-group lag. Exit 3 when not running."""
    from fraudguard.kafka.clients import BrokerNotRunning

    try:
        current = cluster_status(obj.settings)
    except BrokerNotRunning:
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            console.print("local Kafka: [red]not running[/]")
        raise SystemExit(3) from None
    if as_json:
        click.echo(json.dumps({"running": True, **asdict(current)}, indent=2))
        return
    for table in status_tables(current):
        console.print(table)


def status_tables(current: ClusterStatus) -> list[Table]:
    brokers = Table("broker", "address", "role", "pid", "RSS", title=f"Kafka at {current.bootstrap_servers}",
                    caption=f"cluster id {current.cluster_id}")  # fmt: skip
    processes = {node.id: node for node in current.nodes}
    for info in current.brokers:
        node = processes.pop(info.id, None)
        rss = f"{node.rss_bytes / 2**20:.0f} MB" if node and node.rss_bytes else ""
        brokers.add_row(str(info.id), info.address, "controller" if info.controller else "",
                        str(node.pid) if node and node.pid else "", rss)  # fmt: skip
    for node in processes.values():
        brokers.add_row(str(node.id), "", "[red]down[/]", "", "")
    topics = Table("topic", "partition", "leader", "replicas", "in sync", "low", "high", "messages")
    for topic in current.topics:
        for index, p in enumerate(topic.partitions):
            topics.add_row(topic.name if index == 0 else "", str(p.partition), str(p.leader),
                           ",".join(map(str, p.replicas)), ",".join(map(str, p.isr)), str(p.low), str(p.high),
                           str(p.high - p.low), end_section=index == len(topic.partitions) - 1)  # fmt: skip
    groups = Table("consumer group", "state", "topic", "partition", "committed", "high", "lag")
    for group in current.groups:
        for index, lag in enumerate(group.partitions):
            groups.add_row(group.group if index == 0 else "", group.state if index == 0 else "", lag.topic,
                           str(lag.partition), str(lag.committed), str(lag.high), str(lag.lag),
                           end_section=index == len(group.partitions) - 1)  # fmt: skip
    return [brokers, topics, groups]


@broker.command()
@click.argument("node_id", type=int)
@click.option("--kill", is_flag=True, help="SIGKILL, as a crash would (default: a graceful stop).")
@click.pass_obj
def down(obj: CliContext, node_id: int, kill: bool) -> None:
    """Fault injection: stop one node's process."""
    was_running = control.node_down(obj.settings, node_id, kill)
    console.print(f"node {node_id} is down" + ("" if was_running else " (it was not running)"))


@broker.command()
@click.argument("node_id", type=int)
@click.pass_obj
def up(obj: CliContext, node_id: int) -> None:
    """Fault injection: start a stopped node again and wait until it has joined."""
    started = control.node_up(obj.settings, node_id)
    console.print(f"node {node_id} is up" + ("" if started else " (it was running)"))
