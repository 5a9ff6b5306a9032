"""`fraudguard config show`."""

from __future__ import annotations

import json

import click
import yaml

from fraudguard.cli.context import CliContext, console
from fraudguard.config import Settings

_SECRET_WORDS = ("password", "secret", "token", "jaas")
MASK = "**********"


def masked(settings: Settings) -> dict:
    """The effective settings as plain data, every secret replaced by a mask."""
    data = settings.model_dump(mode="json")
    for properties in (data["kafka"]["client_properties"], data["kafka"]["java_client_properties"]):
        for key in properties:
            if any(word in key.lower() for word in _SECRET_WORDS):
                properties[key] = MASK
    return data


@click.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@click.pass_obj
def show(obj: CliContext, as_json: bool) -> None:
    """Print the effective configuration (file + FRAUDGUARD__* overrides), secrets masked."""
    data = masked(obj.settings)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        console.print(f"# {obj.config_path}", style="dim", highlight=False)
        click.echo(yaml.safe_dump(data, sort_keys=False))
