"""`fraudguard config show`."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from fraudguard.cli.context import CliContext, console
from fraudguard.config import Settings
from fraudguard.redact import MASK, is_secret_name, url_origin, without_credentials


def masked(settings: Settings) -> dict:
    """The effective settings as plain data, every secret replaced by a mask: secret fields, properties
    named like secrets, passwords inside URLs, and the webhook URL (often the credential itself)."""
    data = _without_credentials(settings.model_dump(mode="json"))
    for properties in (data["kafka"]["client_properties"], data["kafka"]["java_client_properties"],
                       data["spark"]["conf"]):  # fmt: skip
        for key in properties:
            if is_secret_name(key):
                properties[key] = MASK
    webhook = data["alerts"]["webhook"]
    if webhook["url"]:
        webhook["url"] = url_origin(webhook["url"])
    return data


def _without_credentials(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_credentials(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_credentials(item) for item in value]
    return without_credentials(value) if isinstance(value, str) else value


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
