"""`fraudguard data import`: bring a team's own data (PaySim, ULB credit-card, any labelled CSV/Parquet)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.cli.simulate import publish_live
from fraudguard.config.model import DATASET_NAME_PATTERN
from fraudguard.data.importer import DEFAULT_START, ImportOptions, import_dataset
from fraudguard.data.profiles import GENERIC, PROFILES
from fraudguard.data.reading import SourceFile
from fraudguard.data.schema import TIME_UNITS, DatasetError, DatasetSchema, Role
from fraudguard.paths import RuntimePaths

NAME = re.compile(DATASET_NAME_PATTERN)


@click.group()
def data() -> None:
    """Datasets you bring: import them, then train on them and replay them live."""


def _role(_ctx, _param, values: tuple[str, ...]) -> dict[str, Role]:
    roles = {}
    for value in values:
        column, _, role = value.partition("=")
        if not column or role not in {r.value for r in Role}:
            raise click.BadParameter(f"{value!r}: expected COLUMN=ROLE, ROLE one of {', '.join(Role)}")
        roles[column] = Role(role)
    return roles


def _start(_ctx, _param, value: str | None) -> datetime:
    if value is None:
        return DEFAULT_START
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time, e.g. 2026-01-01T00:00:00Z") from None
    return start if start.tzinfo else start.replace(tzinfo=UTC)


@data.command(name="import")
@click.argument("profile", type=click.Choice([*PROFILES, GENERIC]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Dataset name (default: the profile, or the file's name for csv).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Default: var/datasets/NAME.")
@click.option("--label", help="csv: the column that says which rows are fraud (1/0, true/false).")
@click.option("--time", "time_column", help="csv: the event time column (timestamps, or numbers).")
@click.option("--time-unit", type=click.Choice(list(TIME_UNITS)), default="s", show_default=True,
              help="csv: what a numeric time column counts.")  # fmt: skip
@click.option("--start", callback=_start, help="What a numeric time of 0 is (default 2026-01-01T00:00Z).")
@click.option("--id", "id_column", help="csv: a column unique per row (default: the row number).")
@click.option("--role", "roles", multiple=True, callback=_role, metavar="COLUMN=ROLE",
              help=f"Override a column's role ({', '.join(Role)}); repeatable.")  # fmt: skip
@click.option("--max-categories", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="csv: text columns with at most this many values are categories.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset of that name.")
@click.pass_obj
def import_(
    obj: CliContext, profile: str, path: Path, name: str | None, out: Path | None, overwrite: bool, **chosen
) -> None:
    """Read a CSV or Parquet file, check it, and write a dataset that training and replay read.

    PROFILE: paysim and creditcard expect the public files' columns; csv infers each column's role
    (numbers are inputs, text with few values a category) and shows it."""
    name = name or (
        profile if profile in PROFILES else re.sub(r"[^a-z0-9-]+", "-", path.stem.lower()).strip("-")
    )
    if not NAME.match(name):
        raise CliError(f"dataset name {name!r}: lowercase letters, digits and '-', at most 40", exit_code=2)
    out = out or RuntimePaths(obj.settings.runtime_dir).datasets / name
    if out.exists() and not overwrite:
        raise CliError(f"{out} exists; pass --overwrite to replace it")
    options = ImportOptions(
        profile=profile, name=name, label=chosen["label"], time=chosen["time_column"], id=chosen["id_column"],
        roles=chosen["roles"], time_unit=chosen["time_unit"], start=chosen["start"],
        max_categories=chosen["max_categories"],
    )  # fmt: skip
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]importing {task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(path.name, total=path.stat().st_size)
        source = SourceFile(
            path, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
        try:
            schema = import_dataset(source, out, options)
        except DatasetError as error:
            raise CliError(f"nothing imported: {error}") from None
    elapsed = time.perf_counter() - started
    console.print(schema_table(schema))
    console.print(
        f"imported {schema.rows:,} rows ({schema.frauds:,} fraud, {schema.frauds / schema.rows:.2%}) "
        f"as dataset {schema.name!r} to {out} in {elapsed:.1f} s ({schema.rows / elapsed:,.0f} rows/s)"
    )


def schema_table(schema: DatasetSchema) -> Table:
    table = Table("column", "type", "role", "why", title=f"{schema.name} ({schema.profile})")
    for column in schema.columns:
        style = "dim" if column.role is Role.IGNORE else ""
        table.add_row(column.name, column.type, str(column.role), column.why, style=style)
    return table


@data.command()
@click.argument("name")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=200, show_default=True,
              help="Rows per second.")  # fmt: skip
@click.option("--duration", type=float, help="Seconds to run (default: until the last row).")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.pass_obj
def replay(obj: CliContext, name: str, rate: float, duration: float | None, as_json: bool) -> None:
    """Publish an imported dataset's rows in time order to its own topic (without their labels; the
    frauds' labels follow on its labels topic after features.label_delay_days of event time)."""
    from fraudguard.data.replay import dataset_replay

    try:
        publisher, timeline = dataset_replay(obj.settings, name)
    except DatasetError as error:
        raise CliError(str(error)) from None
    publish_live(publisher, timeline, rate, duration, as_json)
