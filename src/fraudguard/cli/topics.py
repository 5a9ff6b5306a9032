"""`fraudguard topics ensure|list`: the topic registry on the configured cluster."""

from __future__ import annotations

import json

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.config import TopicRole
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


@topics.command("dead-letters")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
@click.pass_obj
def dead_letters(obj: CliContext, as_json: bool) -> None:
    """Every message the dead-letter topic holds: why it was rejected, where it came from, its bytes."""
    from fraudguard.kafka.dead_letter import read_headers
    from fraudguard.kafka.topics import read_topic

    messages = read_topic(obj.settings, obj.settings.topics.get(TopicRole.DEAD_LETTER).name)
    rows = []
    for message in messages:
        headers = {
            key.removeprefix("dead_letter."): value for key, value in read_headers(message.headers()).items()
        }
        text = {"key": message.key() or b"", "value": message.value() or b""}
        rows.append({**headers, **{name: raw.decode(errors="replace") for name, raw in text.items()}})
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table("failed at", "component", "source", "reason", "value", title=f"{len(rows):,} dead letters")
    for row in rows:
        source = f"{row.get('topic')}/{row.get('partition')}@{row.get('offset')}"
        table.add_row(
            row.get("failed_at"), row.get("component"), source, row.get("reason"), row["value"][:60]
        )
    console.print(table)
