"""`fraudguard jars fetch`: the pinned Maven Central artifacts, copied once into `jvm.jars_dir`."""

from __future__ import annotations

import click

from fraudguard import jvm
from fraudguard.cli.context import CliContext, console


@click.group()
def jars() -> None:
    """The pinned JVM artifacts: Apache Kafka's broker, Spark's Kafka connector."""


@jars.command()
@click.argument("names", nargs=-1, type=click.Choice(jvm.ARTIFACT_SETS))
@click.pass_obj
def fetch(obj: CliContext, names: tuple[str, ...]) -> None:
    """Fetch the artifact sets (default: all) from Maven Central unless the cache already holds them."""
    for name in names or jvm.ARTIFACT_SETS:
        with console.status(f"fetching the {name} jars from Maven Central (once) ..."):
            fetched = jvm.fetch(obj.settings, name)
        how = f"fetched in {fetched.seconds:.1f} s" if fetched.fetched_now else "already cached"
        console.print(
            f"{name}: {fetched.jars} jars, {fetched.size_bytes / 2**20:.0f} MB in {fetched.folder} ({how})"
        )
