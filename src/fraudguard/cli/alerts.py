"""`fraudguard alerts serve|tail|export`: the alert consumer service and its data."""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import click

from fraudguard.background import BackgroundError
from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.config import TopicRole
from fraudguard.logs import configure_logging

if TYPE_CHECKING:
    from fraudguard.alerts.accounts import Accounts


@click.group()
def alerts() -> None:
    """Fraud alerts: store them, notify, review them through the API, see them in the dashboard."""


@alerts.command()
@click.option("--host", help="Listen address (default: alerts.host, 127.0.0.1).")
@click.option("--port", type=int, help="Listen port (default: alerts.port).")
@click.option("--detach", is_flag=True, help="Run in the background; return once the API answers.")
@click.pass_obj
def serve(obj: CliContext, host: str | None, port: int | None, detach: bool) -> None:
    """Consume the alerts topic into the store, send notifications, serve the API and the dashboard."""
    from fraudguard.alerts import control
    from fraudguard.alerts.service import AlertService

    if detach:
        if host or port:
            raise CliError("with --detach, set alerts.host and alerts.port in the configuration")
        try:
            pid, started = control.start_detached(obj.settings, str(obj.config_path))
        except BackgroundError as error:
            raise CliError(str(error)) from None
        console.print(f"alert service {'started' if started else 'already running'} (pid {pid})")
        console.print(f"dashboard: {control.url(obj.settings)}")
        console.print(f"log: {control.service(obj.settings).log_file}", style="dim")
        return
    configure_logging()
    service = AlertService(obj.settings, host, port)
    click.echo(f"dashboard: {service.url}   API docs: {service.url}docs", err=True)
    service.run()


@alerts.command()
@click.pass_obj
def stop(obj: CliContext) -> None:
    """Stop the background service (the consumer finishes its batch and commits first)."""
    from fraudguard.alerts import control

    console.print(
        "alert service stopped" if control.stop(obj.settings) else "the alert service is not running"
    )


@alerts.command()
@click.option("--from-beginning", is_flag=True, help="Start at the oldest alert kept, not at new ones.")
@click.option("--max", "max_alerts", type=int, help="Stop after this many alerts.")
@click.option("--idle-timeout", type=float, help="Stop when no alert came for this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print each alert's JSON as it is on the topic.")
@click.pass_obj
def tail(
    obj: CliContext, from_beginning: bool, max_alerts: int | None, idle_timeout: float | None, as_json: bool
) -> None:
    """Print alerts as they arrive on the topic (reads only: commits nothing, stores nothing)."""
    from fraudguard.alerts.notify.channel import alert_line
    from fraudguard.kafka.clients import make_consumer
    from fraudguard.schemas import ALERT

    topic = obj.settings.topics.get(TopicRole.ALERTS).name
    start = "earliest" if from_beginning else "latest"
    consumer = make_consumer(obj.settings, f"fraudguard-tail-{uuid.uuid4()}", **{"auto.offset.reset": start})
    consumer.subscribe([topic])
    shown, idle_since = 0, time.monotonic()
    try:
        while max_alerts is None or shown < max_alerts:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if idle_timeout and time.monotonic() - idle_since > idle_timeout:
                    break
                continue
            idle_since = time.monotonic()
            shown += 1
            if as_json:
                click.echo((message.value() or b"").decode(errors="replace"))
                continue
            try:
                alert = ALERT.decode(message.value() or b"")
            except ValueError as error:
                console.print(
                    f"[red]malformed[/] partition {message.partition()} offset {message.offset()}: {error}"
                )
                continue
            console.print(alert_line(alert), f"[dim]{'; '.join(alert['reasons'])}[/]", highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@alerts.command()
@click.option(
    "--from",
    "start",
    default=None,
    help="'earliest' (the oldest alert the topic keeps, the default) or an offset.",
)
@click.option(
    "--from-time",
    "start_time",
    default=None,
    help="The first alert published at or after this ISO 8601 time (no zone: UTC).",
)
@click.option("--partition", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.pass_obj
def replay(obj: CliContext, start: str | None, start_time: str | None, partitions: tuple[int, ...]) -> None:
    """Move the service's position on the alerts topic back, so that its next start reads the alerts
    again from there: stored ones are counted as duplicates (one row per alert), missing ones stored and
    notified. E.g. after restoring the store from a backup. The service must be stopped."""
    from rich.table import Table

    from fraudguard.alerts import control
    from fraudguard.kafka.group_offsets import EARLIEST, parse_start, parse_time, rewind_group

    if start is not None and start_time is not None:
        raise CliError("give --from or --from-time, not both")
    try:
        offset = parse_time(start_time) if start_time else parse_start(start or EARLIEST)
    except ValueError as error:
        raise CliError(f"{'--from-time' if start_time else '--from'}: {error}") from None
    if control.service(obj.settings).pid() or control.health(obj.settings) is not None:
        raise CliError("the alert service is running: stop it first (fraudguard alerts stop)")
    topic = obj.settings.topics.get(TopicRole.ALERTS).name
    group = obj.settings.alerts.consumer_group
    try:
        rewound = rewind_group(obj.settings, group, topic, offset, list(partitions) or None)
    except ValueError as error:
        raise CliError(str(error)) from None
    table = Table(
        "partition", "committed before", "now", "retained", "to replay", title=f"{group} on {topic}"
    )
    for row in rewound:
        before = "-" if row.before is None else str(row.before)
        table.add_row(
            str(row.partition), before, str(row.after), f"{row.low}..{row.high}", str(row.to_replay)
        )
    console.print(table)
    console.print(f"{sum(r.to_replay for r in rewound)} alerts will be read again at the next start")


@alerts.command()
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the stored alerts as CSV to this file ('-' = stdout).")  # fmt: skip
@click.option("--labels", "labels", is_flag=True,
              help="Write the analysts' verdicts as Parquet for retraining.")  # fmt: skip
@click.option("--since", type=click.DateTime(), help="Only alerts scored at or after this time (UTC).")
@click.option("--until", type=click.DateTime(), help="Only alerts scored before this time (UTC).")
@click.option("--min-score", type=float, help="Only alerts with at least this score.")
@click.option("--status", type=click.Choice(["new", "reviewing", "confirmed_fraud", "false_positive"]))
@click.pass_obj
def export(
    obj: CliContext,
    csv_path: str | None,
    labels: bool,
    since: datetime | None,
    until: datetime | None,
    min_score: float | None,
    status: str | None,
) -> None:
    """Export stored alerts as CSV, or the review labels as Parquet (alerts.labels_path)."""
    from datetime import UTC

    from fraudguard.alerts.export import csv_lines, export_labels
    from fraudguard.alerts.store import AlertFilter, AlertStore, ReviewStatus

    if not csv_path and not labels:
        raise CliError("choose what to export: --csv FILE and/or --labels")
    store = AlertStore(obj.settings.alerts.database_url)
    if csv_path:
        where = AlertFilter(
            since=since.replace(tzinfo=UTC) if since else None,
            until=until.replace(tzinfo=UTC) if until else None,
            min_score=min_score,
            status=ReviewStatus(status) if status else None,
        )
        with click.open_file(csv_path, "w") as output:
            for chunk in csv_lines(store.iterate(where)):
                output.write(chunk)
        if csv_path != "-":
            click.echo(f"{store.count(where):,} alerts written to {csv_path}", err=True)
    if labels:
        path = obj.settings.alerts.labels_path
        count = export_labels(store, path)
        click.echo(f"{count:,} review labels written to {path}", err=True)
    store.close()


ROLES = click.Choice(["viewer", "reviewer", "admin"])


@alerts.group()
def users() -> None:
    """Who may sign in to the dashboard and API: viewers read, reviewers also review, admins manage."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=ROLES, default="reviewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
@click.pass_obj
def add_user(obj: CliContext, username: str, role: str, password_stdin: bool) -> None:
    """Add a user (the password is asked for twice, or read from stdin; at least 12 characters)."""
    from fraudguard.alerts.accounts import AccountError
    from fraudguard.alerts.store import Role

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with _accounts(obj) as accounts:
        try:
            accounts.add_user(username, password, Role(role))
        except AccountError as error:
            raise CliError(str(error)) from None
    console.print(f"user {username} added ({role})")


@users.command("list")
@click.pass_obj
def list_users(obj: CliContext) -> None:
    """Every user with their role (password hashes never leave the store)."""
    from rich.table import Table

    with _accounts(obj) as accounts:
        table = Table("user", "role", "created")
        for user in accounts.users():
            table.add_row(user["username"], user["role"], f"{user['created_at']:%Y-%m-%d %H:%M}")
    console.print(table)


@users.command("remove")
@click.argument("username")
@click.pass_obj
def remove_user(obj: CliContext, username: str) -> None:
    """Remove a user and their API tokens; their sessions end at their next request."""
    with _accounts(obj) as accounts:
        if not accounts.remove_user(username):
            raise CliError(f"no user {username!r}")
    console.print(f"user {username} removed")


@alerts.group()
def tokens() -> None:
    """API tokens for scripts: each acts as its user, with that user's role, until revoked."""


@tokens.command("create")
@click.argument("name")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.pass_obj
def create_token(obj: CliContext, name: str, username: str) -> None:
    """Create a token and print it once (send it as `Authorization: Bearer <token>`)."""
    from fraudguard.alerts.accounts import AccountError

    with _accounts(obj) as accounts:
        try:
            token, secret = accounts.create_token(username, name)
        except AccountError as error:
            raise CliError(str(error)) from None
    click.echo(secret)
    click.echo(f"token {token.id} ({name}) for {username}; shown only now", err=True)


@tokens.command("list")
@click.pass_obj
def list_tokens(obj: CliContext) -> None:
    """Every token: id, user, name, when created and revoked (never the token itself)."""
    from rich.table import Table

    with _accounts(obj) as accounts:
        table = Table("id", "user", "name", "created", "revoked")
        for token in accounts.tokens():
            revoked = f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "-"
            table.add_row(
                str(token.id), token.username, token.name, f"{token.created_at:%Y-%m-%d %H:%M}", revoked
            )
    console.print(table)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def revoke_token(obj: CliContext, token_id: int) -> None:
    """Revoke a token at once."""
    with _accounts(obj) as accounts:
        if not accounts.revoke_token(token_id):
            raise CliError(f"no live token {token_id}")
    console.print(f"token {token_id} revoked")


@contextlib.contextmanager
def _accounts(obj: CliContext) -> Iterator[Accounts]:
    from fraudguard.alerts.accounts import Accounts
    from fraudguard.alerts.store import AlertStore

    store = AlertStore(obj.settings.alerts.database_url)
    try:
        yield Accounts(store)
    finally:
        store.close()
