"""The `fraudguard` command: thin wiring from the command line to the package."""

from __future__ import annotations

import importlib
import sys

import click

from fraudguard.cli.context import CliError
from fraudguard.config import CONFIG_PATH_VAR
from fraudguard.jvm import JvmError
from fraudguard.kafka.clients import BrokerNotRunning
from fraudguard.kafka.local_broker.control import BrokerError
from fraudguard.stream.progress import ProgressError

COMMANDS = {
    "config": "fraudguard.cli.config:config",
    "jars": "fraudguard.cli.jars:jars",
    "broker": "fraudguard.cli.broker:broker",
    "topics": "fraudguard.cli.topics:topics",
    "run": "fraudguard.cli.run:run",
    "simulate": "fraudguard.cli.simulate:simulate",
    "data": "fraudguard.cli.data:data",
    "train": "fraudguard.cli.model:train",
    "evaluate": "fraudguard.cli.model:evaluate",
    "model": "fraudguard.cli.model:model",
    "stream": "fraudguard.cli.stream:stream",
    "alerts": "fraudguard.cli.alerts:alerts",
    "airflow": "fraudguard.cli.airflow:airflow",
    "docs": "fraudguard.cli.docs:docs",
}
"""Each command and where it is defined (`module:attribute`), imported when the command runs: a
command then pays only for its own imports (training's pyspark.ml and xgboost take seconds)."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented lazy-loading pattern)."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


EXPECTED_ERRORS = (CliError, BrokerNotRunning, BrokerError, JvmError, ProgressError)
"""Failures a user can act on: shown as one line, without a traceback."""


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=CONFIG_PATH_VAR,
    help=f"Platform config file (default: ./config/platform.yaml; env {CONFIG_PATH_VAR}).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """fraudguard: real-time fraud detection on Kafka, Spark, MLflow and Airflow.

    Every config key can be overridden from the environment: FRAUDGUARD__<KEY>__<SUBKEY>=value.
    """
    from fraudguard.cli.context import CliContext

    ctx.obj = CliContext(config_path)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C, or a confirmation declined
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except EXPECTED_ERRORS as error:
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(getattr(error, "exit_code", 1))
