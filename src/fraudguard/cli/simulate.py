"""`fraudguard simulate batch|live`: the world simulators."""

from __future__ import annotations

import time
from pathlib import Path

import click
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.config.model import SimulatorSettings
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline

WORLDS = ("faker", "handbook")


def world_options(command):
    """Options shared by batch and live: they override `simulator.*` for this run."""
    for option in reversed(
        [
            click.option("--world", type=click.Choice(WORLDS), default="faker", show_default=True),
            click.option("--seed", type=int, help="Override simulator.seed."),
            click.option("--users", type=int, help="Override simulator.users."),
            click.option("--merchants", type=int, help="Override simulator.merchants."),
            click.option("--fraud-rate", type=float, help="Override simulator.fraud_rate."),
        ]
    ):
        command = option(command)
    return command


def simulator_settings(obj: CliContext, **overrides) -> SimulatorSettings:
    values = {**obj.settings.simulator.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return SimulatorSettings.model_validate(values)
    except ValidationError as error:
        raise CliError(f"invalid simulator option: {error.errors()[0]['msg']}", exit_code=2) from None


def make_timeline(world: str, settings: SimulatorSettings):
    if world == "handbook":
        from fraudguard.simulate.handbook import HandbookTimeline

        return HandbookTimeline(seed=settings.seed)
    return FakerWorldTimeline(settings)


@click.group()
def simulate() -> None:
    """Generate users, merchants and transactions: as Parquet datasets or live to Kafka."""


@simulate.command()
@world_options
@click.option("--days", type=int, help="Override simulator.days (the handbook world has 183).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset in --out.")
@click.pass_obj
def batch(obj: CliContext, world: str, out: Path | None, overwrite: bool, **overrides) -> None:
    """Write users, merchants and transactions (partitioned by day) as Parquet."""
    settings = simulator_settings(obj, **overrides)
    out = out or obj.settings.runtime_dir / "datasets" / world
    timeline = make_timeline(world, settings)
    total_days = getattr(timeline, "total_days", settings.days)
    started = time.perf_counter()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days, {task.fields[transactions]:,} transactions"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"simulating the {world} world", total=total_days, transactions=0)
        try:
            summary = write_batch(
                timeline,
                out,
                settings_json={"world": world, **settings.model_dump(mode="json")},
                overwrite=overwrite,
                on_day=lambda _, s: progress.update(task, completed=s.days, transactions=s.transactions),
            )
        except FileExistsError as error:
            raise CliError(str(error)) from None
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {summary.transactions:,} transactions ({summary.frauds:,} fraud, "
        f"{summary.frauds / max(summary.transactions, 1):.2%}), {summary.users:,} users, "
        f"{summary.merchants:,} merchants to {out} in {elapsed:.1f} s"
    )
    for name, count in sorted(summary.per_scenario.items()):
        console.print(f"  {name:<22} {count:>8,}  {count / max(summary.frauds, 1):6.1%} of fraud")
