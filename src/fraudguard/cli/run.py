"""`fraudguard run`: the platform's main job (the README's `make run`)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console


@click.command()
@click.option(
    "--duration",
    type=float,
    help="Stop this many seconds after the first alert (or after the wait for it ends), with a summary "
    "(default: Ctrl-C).",
)
@click.option("--rate", type=float, help="Live transactions per second (default: simulator.live_rate).")
@click.option("--refresh", type=float, default=2.0, show_default=True, help="Seconds between updates.")
@click.option(
    "--summary-json", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary here."
)
@click.pass_obj
def run(
    obj: CliContext, duration: float | None, rate: float | None, refresh: float, summary_json: Path | None
) -> None:
    """Start the whole platform (broker, MLflow UI, first model, stream, alert service, Airflow, live
    traffic), show its live status until Ctrl-C or --duration, stop everything, print a summary."""
    from fraudguard.logs import configure_logging
    from fraudguard.paths import RuntimePaths
    from fraudguard.platform.runner import PlatformRun, StartFailed

    # The console shows the run's status lines; its own clients' logs (the traffic's producer) go to a file.
    configure_logging(file=RuntimePaths(obj.settings.runtime_dir).logs / "run.log")
    platform = PlatformRun(obj.settings, obj.config_path, console, rate=rate)
    try:
        platform.start()
    except StartFailed as error:
        raise CliError(str(error)) from None
    try:
        summary = platform.run(duration, refresh)
    except StartFailed as error:
        raise CliError(str(error)) from None
    finally:
        stopped = platform.stop()
    console.print(f"stopped: {', '.join(stopped) or 'nothing (all were already running)'}")
    table = Table("summary", "value", title="this run")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)
    if summary_json:
        summary_json.write_text(json.dumps({**summary, "stopped": stopped}, indent=2) + "\n")
