"""`fraudguard stream start|stop|restart|status|reset`: the streaming scoring job's lifecycle."""

from __future__ import annotations

import json
import re
import signal

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.config.model import DATASET_NAME_PATTERN
from fraudguard.data.naming import dataset_folder, stream_settings
from fraudguard.data.schema import DatasetError
from fraudguard.logs import configure_logging
from fraudguard.stream import control
from fraudguard.stream.progress import QueryProgress


@click.group()
def stream() -> None:
    """The streaming job: Kafka in, features, champion scoring, alerts and scored history out.

    One job scores the simulated world; `--dataset NAME` addresses the job that scores an imported
    dataset's replay (`data replay NAME`) with that dataset's champion."""


def dataset_option(command):
    """`--dataset NAME`: the job of an imported dataset instead of the simulated world's."""

    def chosen(context: click.Context, _: click.Parameter, name: str | None) -> str | None:
        if name is not None and not re.fullmatch(DATASET_NAME_PATTERN, name):
            raise click.BadParameter(f"expected a dataset name matching {DATASET_NAME_PATTERN}")
        obj = context.find_object(CliContext)
        if name is not None and obj is not None:
            obj.settings = control.for_dataset(obj.settings, name)
        return name

    return click.option(
        "--dataset",
        metavar="NAME",
        expose_value=False,
        callback=chosen,
        help="The job that scores this imported dataset's replay (default: the simulated world's).",
    )(command)


@stream.command()
@dataset_option
@click.option("--detach", is_flag=True, help="Run in the background; return once the query runs.")
@click.option("--available-now", is_flag=True, help="Score what the topics hold now, then stop.")
@click.pass_obj
def start(obj: CliContext, detach: bool, available_now: bool) -> None:
    """Start the job (in the foreground unless --detach; Ctrl-C stops it after the current batch)."""
    settings = obj.settings
    if settings.stream.dataset:
        try:
            dataset_folder(settings, settings.stream.dataset)
        except DatasetError as error:
            raise CliError(str(error)) from None
    if detach:
        try:
            current, started = control.start_detached(settings, str(obj.config_path), available_now)
        except control.StreamError as error:
            raise CliError(str(error)) from None
        verb = "started" if started else "already running"
        console.print(f"stream {verb} (pid {current.progress.pid})")
        console.print(f"log: {control.log_file(settings)}", style="dim")
        return
    if control.running(settings):
        dataset = f" --dataset {settings.stream.dataset}" if settings.stream.dataset else ""
        raise CliError(f"the stream is already running; `fraudguard stream stop{dataset}` first")
    from fraudguard.stream.champion import NoChampion  # these import Spark: only when really starting
    from fraudguard.stream.job import StreamJob

    configure_logging()
    job = StreamJob(settings, available_now=available_now)
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: job.request_stop())
    try:
        job.run()
    except (NoChampion, control.StreamError) as error:
        raise CliError(str(error)) from None


@stream.command()
@dataset_option
@click.pass_obj
def stop(obj: CliContext) -> None:
    """Stop gracefully: the running micro-batch completes first."""
    pid = control.stop(obj.settings)
    console.print("the stream is not running" if pid is None else f"stream stopped (was pid {pid})")


@stream.command()
@dataset_option
@click.pass_obj
def restart(obj: CliContext) -> None:
    """Stop (gracefully) and start again in the background, e.g. after a new champion."""
    try:
        current = control.restart(obj.settings, str(obj.config_path))
    except control.StreamError as error:
        raise CliError(str(error)) from None
    console.print(f"stream restarted (pid {current.progress.pid})")


@stream.command()
@dataset_option
@click.confirmation_option(prompt="Forget the stream's checkpoint, per-user state and tables?")
@click.pass_obj
def reset(obj: CliContext) -> None:
    """Forget the job's checkpoint, per-user state and tables, e.g. when a new version cannot continue
    them. The scored history stays. The next start reads the topics from `stream.starting_offsets`:
    with `earliest`, the messages they still hold are scored (and added to the history) again."""
    try:
        control.reset(obj.settings)
    except control.StreamError as error:
        raise CliError(str(error)) from None
    console.print(f"stream state forgotten ({stream_settings(obj.settings).stream.state_uri})")


@stream.command()
@dataset_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Last batch, rates, lag per partition, late records, dead letters, model. Exit 3 if not running."""
    current = control.status(obj.settings)
    if as_json:
        alive = bool(current and current.alive)
        progress = current.progress.model_dump(mode="json") if current else {}
        click.echo(json.dumps({"alive": alive, **progress}, indent=2))
    else:
        console.print(status_table(current))
    if current is None or not current.alive:
        raise SystemExit(3)


def status_table(current: control.StreamStatus | None) -> Table:
    table = Table(show_header=False, title="streaming job")
    table.add_column(style="bold")
    table.add_column()
    if current is None:
        table.add_row("state", "[red]never started here[/]")
        return table
    progress = current.progress
    query, totals = progress.query or QueryProgress(), progress.totals
    rows = {
        "state": control.shown_state(current),
        "pid": progress.pid,
        "model": progress.model or "-",
        "last batch": (f"{query.batch_id} at {query.timestamp}" if query.batch_id is not None else "-")
        + ("; a micro-batch is running" if query.batch_running else ""),
        "input rate": f"{query.input_rows_per_s:,.0f} rows/s",
        "processing rate": f"{query.processed_rows_per_s:,.0f} rows/s",
        "batch duration": f"{query.batch_duration_ms} ms",
        "lag": f"{query.total_lag:,} messages " + " ".join(f"{k}={v}" for k, v in query.lag.items() if v),
        "scored": f"{totals.transactions:,} transactions, {totals.alerts:,} alerts",
        "late records": f"{totals.late_users:,} without user, {totals.late_merchants:,} without merchant",
        "late browsing events": f"{totals.late_session_events:,}",
        "labels": f"{totals.labels:,}",
        "dead letters": f"{totals.dead_letters:,}",
        "error": progress.error or "-",
    }
    for name, value in rows.items():
        table.add_row(name, str(value))
    return table
