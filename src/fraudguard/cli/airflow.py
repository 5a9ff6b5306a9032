"""`fraudguard airflow start|stop|status`: local Airflow running the project's DAGs."""

from __future__ import annotations

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.orchestration.local_airflow import ADMIN_USER, AirflowError, LocalAirflow


@click.group()
def airflow() -> None:
    """Local Airflow 3 (API server + UI, scheduler, DAG processor) on loopback."""


def _local(obj: CliContext) -> LocalAirflow:
    return LocalAirflow(obj.settings, obj.config_path)


@airflow.command()
@click.pass_obj
def start(obj: CliContext) -> None:
    """Start in the background; return once it is healthy."""
    local = _local(obj)
    with console.status("starting Airflow (database migration, API server, scheduler, DAG processor) ..."):
        try:
            started = local.start()
        except AirflowError as error:
            raise CliError(str(error)) from None
    console.print(f"Airflow {'started' if started else 'already running'}: [bold]{local.url}[/]")
    console.print(f"user {ADMIN_USER}, password in {local.password_file}")
    console.print(f"logs: {local.log_file('*')}", style="dim")


@airflow.command()
@click.pass_obj
def stop(obj: CliContext) -> None:
    """Stop every component (running tasks end with them)."""
    stopped = _local(obj).stop()
    console.print(f"Airflow stopped ({', '.join(stopped)})" if stopped else "Airflow is not running")


@airflow.command()
@click.pass_obj
def status(obj: CliContext) -> None:
    """Each component's process and health. Exit 3 if not running."""
    local = _local(obj)
    running, health = local.running(), local.health() or {}
    table = Table("component", "pid", "health", title=f"Airflow at {local.url}")
    for name in local.components():
        part = health.get(name.replace("-", "_")) or {}
        table.add_row(name, str(running.get(name, "-")), part.get("status", "-"))
    table.add_row("metadatabase", "", (health.get("metadatabase") or {}).get("status", "-"))
    console.print(table)
    if not running:
        raise SystemExit(3)
