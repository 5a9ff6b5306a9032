"""`fraudguard docs`: the reference pages under docs/, generated from the code."""

from __future__ import annotations

import click


@click.group()
def docs() -> None:
    """Print the reference pages generated from the code (what docs/ holds)."""


@docs.command("config")
def config_reference() -> None:
    """Every configuration key with its type, default and description, as Markdown
    (docs/configuration.md)."""
    from fraudguard.config.reference import reference_markdown

    click.echo(reference_markdown(), nl=False)


@docs.command("cli")
def cli_reference() -> None:
    """Every command with its usage, help and options, as Markdown (docs/cli.md)."""
    from fraudguard.cli import cli
    from fraudguard.cli.reference import cli_markdown

    click.echo(cli_markdown(cli), nl=False)
