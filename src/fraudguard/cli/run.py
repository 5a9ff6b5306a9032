"""`fraudguard run`: the platform's main job. For now: the development broker and its live status."""

from __future__ import annotations

import time

import click
from rich.live import Live

from fraudguard.cli.broker import status_table
from fraudguard.cli.context import CliContext, console
from fraudguard.kafka.devbroker import control
from fraudguard.kafka.devbroker.status import broker_status


@click.command()
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--refresh", type=float, default=2.0, show_default=True, help="Seconds between updates.")
@click.pass_obj
def run(obj: CliContext, duration: float | None, refresh: float) -> None:
    """Start the platform and show its live status until Ctrl-C; stop what it started on exit."""
    settings = obj.settings
    started_broker = False
    if settings.kafka.uses_dev_broker:
        started = time.monotonic()
        state, started_broker = control.start_detached(settings)
        took = f" in {time.monotonic() - started:.1f} s" if started_broker else " (already running)"
        console.print(f"development broker at [bold]{state.bootstrap_servers}[/]{took}")
    deadline = time.monotonic() + duration if duration else None
    try:
        with Live(console=console, auto_refresh=False) as live:
            while deadline is None or time.monotonic() < deadline:
                current = broker_status(settings)
                if current is None:
                    console.print("[red]the development broker is gone[/]")
                    break
                live.update(status_table(current), refresh=True)
                time.sleep(
                    refresh if deadline is None else min(refresh, max(0.0, deadline - time.monotonic()))
                )
    except KeyboardInterrupt:
        pass
    finally:
        if started_broker:
            control.stop(settings)
            console.print("development broker stopped")
