"""`fraudguard simulate batch|live`: the world simulators."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict
from pathlib import Path

import click
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.config.model import SimulatorSettings
from fraudguard.paths import RuntimePaths
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.live import LivePublisher, LiveReport, live_world
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
    out = out or RuntimePaths(obj.settings.runtime_dir).datasets / world
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
        f"{summary.merchants:,} merchants"
        + (f", {summary.session_events:,} browsing events" if summary.session_events else "")
        + f" to {out} in {elapsed:.1f} s"
    )
    for name, count in sorted(summary.per_scenario.items()):
        console.print(f"  {name:<22} {count:>8,}  {count / max(summary.frauds, 1):6.1%} of fraud")


@simulate.command()
@world_options
@click.option("--rate", type=float, help="Transactions per second (default: simulator.live_rate).")
@click.option("--duration", type=float, help="Seconds to run (default: until Ctrl-C).")
@click.option(
    "--start-date", type=click.DateTime(["%Y-%m-%d"]), help="Simulated start (default: today, UTC)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.pass_obj
def live(
    obj: CliContext,
    world: str,
    rate: float | None,
    duration: float | None,
    start_date,
    as_json: bool,
    **overrides,
) -> None:
    """Publish users and merchants, then transactions at a target rate, to the Kafka topics.

    Unless --seed is given, live traffic uses simulator.seed + 1, so it is never a replay of the
    batch datasets a model was trained on.
    """
    try:
        settings = live_world(obj.settings.simulator, start_date.date() if start_date else None, **overrides)
    except ValidationError as error:
        raise CliError(f"invalid simulator option: {error.errors()[0]['msg']}", exit_code=2) from None
    rate = rate or settings.live_rate
    publish_live(LivePublisher(obj.settings), make_timeline(world, settings), rate, duration, as_json)


def publish_live(
    publisher: LivePublisher, timeline, rate: float, duration: float | None, as_json: bool
) -> None:
    """Run a live publisher with a status line until its timeline ends, the duration is up or Ctrl-C
    (SIGTERM too), then print what was sent and delivered per topic."""
    status = console.status(f"starting live traffic to {publisher.topics[publisher.transactions.name]} ...")

    def show(report: LiveReport) -> None:
        status.update(
            f"{report.transactions:,} transactions sent, {report.achieved_rate:,.0f}/s "
            f"(target {rate:,.0f}/s), simulated day {report.simulated_until}, {report.elapsed_s:.0f} s"
        )

    signal.signal(signal.SIGTERM, lambda *_: publisher.stop())
    with status:
        try:
            report = publisher.run(timeline, rate, duration, on_progress=show)
        except KeyboardInterrupt:
            publisher.stop()
            report = publisher.report
    if as_json:
        click.echo(json.dumps({**asdict(report), "achieved_rate": round(report.achieved_rate, 1)}, indent=2))
        return
    console.print(
        f"sent {report.transactions:,} transactions in {report.elapsed_s:.1f} s "
        f"({report.achieved_rate:,.0f}/s, target {rate:,.0f}/s)"
    )
    for topic, generated in report.generated.items():
        console.print(
            f"  {topic:<14} generated {generated:>9,}  delivered {report.delivered.get(topic, 0):>9,}  "
            f"failed {report.failed.get(topic, 0):,}"
        )
