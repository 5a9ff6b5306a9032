"""`fraudguard topics ensure|list`: the topic registry on the configured cluster."""

from __future__ import annotations

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.kafka.topics import describe_topics, ensure_topics


@click.group()
def topics() -> None:
    """The registry topics (transactions, users, merchants, alerts, dead letters)."""


@topics.command()
@click.pass_obj
def ensure(obj: CliContext) -> None:
    """Create the registry topics missing on the cluster (Admin API) and report each one."""
    reports = ensure_topics(obj.settings)
    table = Table("role", "topic", "partitions", "action", "detail")
    style = {"created": "green", "exists": "", "failed": "red"}
    for report in reports:
        table.add_row(
            report.role.value,
            report.name,
            str(report.actual_partitions or report.configured_partitions),
            f"[{style[report.action]}]{report.action}[/]" if style[report.action] else report.action,
            report.detail,
        )
    console.print(table)
    if any(report.action == "failed" for report in reports):
        raise CliError("some topics could not be created")


@topics.command(name="list")
@click.pass_obj
def list_topics(obj: CliContext) -> None:
    """The registry topics as they are on the cluster, with message counts."""
    infos = {info.name: info for info in describe_topics(obj.settings)}
    table = Table("role", "topic", "partitions", "messages")
    for role, topic in obj.settings.topics.all().items():
        info = infos.get(topic.name)
        table.add_row(
            role.value,
            topic.name,
            str(len(info.partitions)) if info else "[red]missing[/]",
            str(info.messages) if info else "",
        )
    console.print(table)
