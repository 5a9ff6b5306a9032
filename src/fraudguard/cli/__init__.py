"""The `fraudguard` command: thin wiring from the command line to the package."""

from __future__ import annotations

import sys

import click

from fraudguard.cli.airflow import airflow
from fraudguard.cli.alerts import alerts
from fraudguard.cli.broker import broker
from fraudguard.cli.config import config
from fraudguard.cli.context import CliError
from fraudguard.cli.data import data
from fraudguard.cli.docs import docs
from fraudguard.cli.jars import jars
from fraudguard.cli.model import evaluate, model, train
from fraudguard.cli.run import run
from fraudguard.cli.simulate import simulate
from fraudguard.cli.stream import stream
from fraudguard.cli.topics import topics
from fraudguard.config import CONFIG_PATH_VAR
from fraudguard.jvm import JvmError
from fraudguard.kafka.clients import BrokerNotRunning
from fraudguard.kafka.local_broker.control import BrokerError
from fraudguard.stream.progress import ProgressError

EXPECTED_ERRORS = (CliError, BrokerNotRunning, BrokerError, JvmError, ProgressError)
"""Failures a user can act on: shown as one line, without a traceback."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


cli.add_command(config)
cli.add_command(jars)
cli.add_command(broker)
cli.add_command(topics)
cli.add_command(run)
cli.add_command(simulate)
cli.add_command(data)
cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(model)
cli.add_command(stream)
cli.add_command(alerts)
cli.add_command(airflow)
cli.add_command(docs)


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
