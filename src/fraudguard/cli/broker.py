"""`fraudguard broker start|stop|status|down|up`: the development broker's lifecycle."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, console
from fraudguard.kafka.devbroker import control
from fraudguard.kafka.devbroker.server import BrokerAlreadyRunning, DevBroker
from fraudguard.kafka.devbroker.state import BrokerState
from fraudguard.kafka.devbroker.status import BrokerStatus, broker_status
from fraudguard.logs import configure_logging
from fraudguard.paths import RuntimePaths

LIMITS = (
    "It is librdkafka's in-memory mock Kafka cluster, speaking the real Kafka protocol on 127.0.0.1: "
    "data is lost when it stops, and each partition keeps only about the last 5 MB (older offsets "
    "are truncated, as retention would). For anything beyond one machine, set "
    "kafka.bootstrap_servers to a real Kafka cluster."
)


@click.group(help=f"The development broker, the embedded default Kafka.\n\n{LIMITS}")
def broker() -> None:
    pass


@broker.command(help=f"Start the development broker. {LIMITS}")
@click.option("--detach", is_flag=True, help="Run it in the background and return once it is ready.")
@click.pass_obj
def start(obj: CliContext, detach: bool) -> None:
    settings = obj.settings
    if detach:
        state, started = control.start_detached(settings)
        verb = "started" if started else "already running"
        console.print(f"development broker {verb} at [bold]{state.bootstrap_servers}[/] (pid {state.pid})")
        console.print(f"log: {RuntimePaths(settings.runtime_dir).broker_log}", style="dim")
        return

    def announce(state: BrokerState) -> None:
        console.print(
            f"development broker running at [bold]{state.bootstrap_servers}[/] (pid {state.pid}); "
            "Ctrl-C stops it"
        )

    configure_logging()
    try:
        DevBroker(settings).run(on_ready=announce)
    except BrokerAlreadyRunning as error:
        console.print(str(error))


@broker.command()
@click.pass_obj
def stop(obj: CliContext) -> None:
    """Stop the development broker gracefully; nothing is left running."""
    state = control.stop(obj.settings)
    if state is None:
        console.print("no development broker is running")
    else:
        console.print(f"development broker stopped (was pid {state.pid} at {state.bootstrap_servers})")


@broker.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Address, memory, topics, partitions and per-partition watermarks. Exit 3 when not running."""
    current = broker_status(obj.settings)
    if current is None:
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            console.print("development broker: [red]not running[/]")
        raise SystemExit(3)
    if as_json:
        click.echo(json.dumps(status_as_dict(current), indent=2))
    else:
        console.print(status_table(current))


def status_as_dict(current: BrokerStatus) -> dict:
    state = asdict(current.state)
    for private in ("control_key", "control_host", "control_port", "process_started"):
        state.pop(private)
    return {
        "running": True,
        **state,
        "rss_bytes": current.rss_bytes,
        "topics": [asdict(topic) for topic in current.topics],
    }


def status_table(current: BrokerStatus) -> Table:
    state = current.state
    rss = f"{current.rss_bytes / 2**20:.0f} MB" if current.rss_bytes else "?"
    table = Table(
        title=f"development broker at {state.bootstrap_servers}",
        caption=f"pid {state.pid}, {state.brokers} brokers, RSS {rss}, since {state.started_at}; "
        "in memory, ~5 MB kept per partition",
    )
    for column in ("topic", "partition", "leader", "low", "high", "messages"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for topic in current.topics:
        for index, partition in enumerate(topic.partitions):
            table.add_row(
                topic.name if index == 0 else "",
                str(partition.partition),
                str(partition.leader),
                str(partition.low),
                str(partition.high),
                str(partition.high - partition.low),
                end_section=index == len(topic.partitions) - 1,
            )
    return table


def _broker_id(obj: CliContext, broker_id: int, down: bool) -> None:
    (control.set_broker_down if down else control.set_broker_up)(obj.settings, broker_id)
    console.print(f"broker {broker_id} is {'down' if down else 'up'}")


@broker.command()
@click.argument("broker_id", type=int)
@click.pass_obj
def down(obj: CliContext, broker_id: int) -> None:
    """Fault injection: take one broker down (connections closed, no leader change)."""
    _broker_id(obj, broker_id, down=True)


@broker.command()
@click.argument("broker_id", type=int)
@click.pass_obj
def up(obj: CliContext, broker_id: int) -> None:
    """Fault injection: bring a broker taken down back up."""
    _broker_id(obj, broker_id, down=False)
