"""The alert store: one row per transaction_id, whatever the topic delivers twice, plus a notification outbox.

SQLAlchemy Core over any database URL (SQLite by default). The alert columns are derived from the one
`ALERT` schema. New alerts and their pending notifications are written in the same transaction (an
outbox), so a crash after storing never loses a notification and a replay never queues a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles

from fraudguard.schemas import ALERT


class ReviewStatus(StrEnum):
    NEW = "new"
    REVIEWING = "reviewing"
    CONFIRMED_FRAUD = "confirmed_fraud"
    FALSE_POSITIVE = "false_positive"


class Role(StrEnum):
    """What a signed-in user may do: read alerts; also review them; also manage users."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"


VERDICTS = (ReviewStatus.CONFIRMED_FRAUD, ReviewStatus.FALSE_POSITIVE)
LIVE_WINDOWS = 30
"""The live chart's 10-second windows (the last five minutes)."""
PLACE_DEGREES = 1.0
"""The map's cell size: alerts are counted per cell (bubbles by count), at the cell's mean position."""
LABELS_CHANNEL = "labels"
"""The outbox channel that publishes verdicts to the labels topic (`alerts.notify.labels`)."""


class UtcDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on databases with or without time zones."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


_COLUMN_TYPES = {
    "string": sa.String,
    "int": sa.Integer,
    "double": sa.Float,
    "bool": sa.Boolean,
    "timestamp": UtcDateTime,
    "strings": sa.JSON,
}
REVIEW_COLUMNS = ("status", "note", "reviewed_at", "reviewed_by", "received_at")
"""What the service adds to an alert: its review state and when it was stored."""

metadata = sa.MetaData()
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # arrival order, for live views
    *(
        sa.Column(
            field.name,
            _COLUMN_TYPES[field.type](),
            nullable=field.nullable,
            unique=field.name == ALERT.key,
            index=field.name in ("user_id", "merchant_id", "scored_at"),
        )
        for field in ALERT.fields
    ),
    sa.Column("status", sa.String(20), nullable=False, default=ReviewStatus.NEW.value, index=True),
    sa.Column("note", sa.Text),
    sa.Column("reviewed_at", UtcDateTime()),
    sa.Column("reviewed_by", sa.String(64)),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    # Optimistic concurrency: a review names the version it saw and fails when another came first.
    sa.Column("version", sa.Integer, nullable=False, default=1, server_default="1"),
)
review_audit = sa.Table(
    "review_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("transaction_id", sa.String, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=False),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),  # the alert's version after the change
)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # SHA-256: the token is random
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime()),
)
outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("transaction_id", sa.String, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("transaction_id", "channel"),
)
notification_dead_letters = sa.Table(
    "notification_dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("transaction_id", sa.String, nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("failed_at", UtcDateTime(), nullable=False),
)


VERSION_TABLE = "alert_store_version"
FIRST_VERSION = "0001"


def _create_or_upgrade(engine: Engine) -> None:
    """A new store is created at the latest schema; one from an earlier version (unversioned: the first
    schema) is migrated in place by Alembic (`alerts/migrations`), keeping every alert."""
    config = alembic.config.Config()
    config.set_main_option("script_location", "fraudguard.alerts:migrations")
    config.attributes["version_table"] = VERSION_TABLE
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        tables = sa.inspect(connection).get_table_names()
        if "alerts" not in tables:
            metadata.create_all(connection)
            alembic.command.stamp(config, "head")
            return
        if VERSION_TABLE not in tables:
            alembic.command.stamp(config, FIRST_VERSION)
        alembic.command.upgrade(config, "head")
        metadata.create_all(connection)  # tables added after the first version


@dataclass(frozen=True)
class AlertFilter:
    """What the API, the CSV export and the CLI can filter on; None = any."""

    since: datetime | None = None  # scored_at >= since
    until: datetime | None = None  # scored_at < until
    user_id: str | None = None
    merchant_id: str | None = None
    min_score: float | None = None
    status: ReviewStatus | None = None

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        c = alerts.c
        checks = [
            (self.since, lambda: c.scored_at >= self.since),
            (self.until, lambda: c.scored_at < self.until),
            (self.user_id, lambda: c.user_id == self.user_id),
            (self.merchant_id, lambda: c.merchant_id == self.merchant_id),
            (self.min_score, lambda: c.score >= self.min_score),
            (self.status, lambda: c.status == self.status),
        ]
        return [clause() for value, clause in checks if value is not None]


class ReviewConflict(Exception):
    """Another review changed the alert after the version the reviewer saw."""

    def __init__(self, transaction_id: str, seen: int, current: int | None) -> None:
        super().__init__(
            f"alert {transaction_id} changed since version {seen}"
            + (f" (now version {current})" if current else "")
            + ": reload it and review again"
        )
        self.transaction_id = transaction_id


@dataclass(frozen=True)
class StoreResult:
    new: list[str]  # transaction_ids stored for the first time
    duplicates: int  # already stored (replays, duplicates within the batch)


@dataclass(frozen=True)
class Pending:
    """A notification still to deliver."""

    outbox_id: int
    attempts: int
    alert: dict[str, Any]


class AlertStore:
    def __init__(self, url: str, **engine_options: Any) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url, **engine_options)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        _create_or_upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------------------

    def add(self, records: Iterable[dict[str, Any]], channels: Sequence[str] = ()) -> StoreResult:
        """Store alerts not seen before (by transaction_id), and queue their notifications, atomically."""
        batch: dict[str, dict[str, Any]] = {}
        received = 0
        for record in records:
            received += 1
            batch.setdefault(record[ALERT.key], record)
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            known = set(
                connection.scalars(
                    sa.select(alerts.c.transaction_id).where(alerts.c.transaction_id.in_(batch))
                )
            )
            new = [key for key in batch if key not in known]
            if new:
                rows = [{**batch[key], "status": ReviewStatus.NEW.value, "received_at": now} for key in new]
                connection.execute(alerts.insert(), rows)
                if channels:
                    queued = [
                        {"transaction_id": key, "channel": channel, "attempts": 0, "next_attempt_at": now}
                        for key in new
                        for channel in channels
                    ]
                    connection.execute(outbox.insert(), queued)
        return StoreResult(new=new, duplicates=received - len(new))

    def review(
        self,
        transaction_id: str,
        status: ReviewStatus,
        note: str | None,
        actor: str = "system",
        seen_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Set an alert's review status (and note) as `actor`, recorded in the audit trail; None when
        no such alert. With `seen_version`, refuse (`ReviewConflict`) when the alert changed since."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            current = connection.execute(
                sa.select(alerts.c.status, alerts.c.version).where(alerts.c.transaction_id == transaction_id)
            ).first()
            if current is None:
                return None
            if seen_version is not None and seen_version != current.version:
                raise ReviewConflict(transaction_id, seen_version, current.version)
            values: dict[str, Any] = {
                "status": status.value,
                "reviewed_at": now,
                "reviewed_by": actor,
                "version": current.version + 1,
            }
            if note is not None:
                values["note"] = note
            updated = connection.execute(
                alerts.update()
                .where(alerts.c.transaction_id == transaction_id, alerts.c.version == current.version)
                .values(**values)
            )
            if updated.rowcount == 0:  # another review committed between the read and this write
                raise ReviewConflict(transaction_id, seen_version or current.version, None)
            connection.execute(
                review_audit.insert().values(
                    transaction_id=transaction_id,
                    actor=actor,
                    at=now,
                    from_status=current.status,
                    to_status=status.value,
                    note=note,
                    version=current.version + 1,
                )
            )
            if status in VERDICTS:  # queued with the change: a verdict always reaches the labels topic
                queued = (outbox.c.transaction_id == transaction_id) & (outbox.c.channel == LABELS_CHANNEL)
                connection.execute(outbox.delete().where(queued))
                connection.execute(
                    outbox.insert().values(
                        transaction_id=transaction_id,
                        channel=LABELS_CHANNEL,
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
        return self.get(transaction_id)

    def audit(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Review changes, oldest first: one alert's, or all of them."""
        query = review_audit.select().order_by(review_audit.c.id)
        if transaction_id is not None:
            query = query.where(review_audit.c.transaction_id == transaction_id)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, transaction_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(alerts.select().where(alerts.c.transaction_id == transaction_id)).first()
        return None if row is None else dict(row._mapping)

    def answers(self) -> bool:
        """Whether the database can be reached and read at all."""
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.select(alerts.c.transaction_id).limit(1))
        except Exception:
            return False
        return True

    def count(self, where: AlertFilter | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(alerts).where(*(where or AlertFilter()).clauses())
        with self.engine.connect() as connection:
            return connection.scalar(query) or 0

    def find(
        self,
        where: AlertFilter | None = None,
        limit: int = 100,
        after_id: int | None = None,
        unreviewed_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Newest first (with `unreviewed_first`, the new ones before the rest); with `after_id`, the
        alerts stored after that one, oldest first (live views)."""
        query = alerts.select().where(*(where or AlertFilter()).clauses())
        if after_id is not None:
            query = query.where(alerts.c.id > after_id).order_by(alerts.c.id)
        else:
            query = query.order_by(alerts.c.id.desc())
        with self.engine.connect() as connection:
            if not unreviewed_first or after_id is not None:
                return [dict(row._mapping) for row in connection.execute(query.limit(limit))]
            new = ReviewStatus.NEW.value  # two indexed queries instead of sorting every match
            found = [
                dict(row._mapping)
                for row in connection.execute(query.where(alerts.c.status == new).limit(limit))
            ]
            if len(found) < limit:
                rest = query.where(alerts.c.status != new).limit(limit - len(found))
                found += [dict(row._mapping) for row in connection.execute(rest)]
            return found

    def iterate(self, where: AlertFilter | None = None, chunk: int = 5000) -> Iterator[dict[str, Any]]:
        """Every matching alert in arrival order, fetched in chunks (exports of any size)."""
        last = 0
        while True:
            rows = self.find(where, limit=chunk, after_id=last)
            yield from rows
            if len(rows) < chunk:
                return
            last = rows[-1]["id"]

    def reviewed(self) -> list[dict[str, Any]]:
        """Alerts with a verdict (confirmed fraud or false positive), oldest verdict first."""
        query = (
            sa.select(alerts.c.transaction_id, alerts.c.status, alerts.c.reviewed_at, alerts.c.model_version)
            .where(alerts.c.status.in_([status.value for status in VERDICTS]))
            .order_by(alerts.c.reviewed_at)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def stats(self, minutes: int = 60, now: datetime | None = None) -> dict[str, Any]:
        """Alerts per minute over the last `minutes` (in all and per category), per 10 seconds over the
        last `LIVE_WINDOWS` of them, and totals by category, country, place and status."""
        now = now or datetime.now(UTC)
        since = now - timedelta(minutes=minutes)
        live_since = now - timedelta(seconds=10 * LIVE_WINDOWS)
        c = alerts.c
        minute, ten_seconds = _minute_of(c.scored_at), _ten_seconds_of(c.scored_at)
        cell_lat, cell_lon = sa.func.round(c.lat / PLACE_DEGREES), sa.func.round(c.lon / PLACE_DEGREES)
        with self.engine.connect() as connection:
            recent = connection.execute(
                sa.select(minute, sa.func.count()).where(c.scored_at >= since).group_by(minute)
            ).all()
            live = connection.execute(
                sa.select(ten_seconds, sa.func.count()).where(c.scored_at >= live_since).group_by(ten_seconds)
            ).all()
            category_minutes = connection.execute(
                sa.select(minute, c.merchant_category, sa.func.count())
                .where(c.scored_at >= since)
                .group_by(minute, c.merchant_category)
                .order_by(minute)
            ).all()
            by = {
                name: connection.execute(
                    sa.select(column, sa.func.count()).group_by(column).order_by(sa.func.count().desc())
                ).all()
                for name, column in (
                    ("category", c.merchant_category),
                    ("country", c.country),
                    ("status", c.status),
                )
            }
            places = connection.execute(
                sa.select(sa.func.avg(c.lat), sa.func.avg(c.lon), c.country, sa.func.count())
                .where(c.lat.is_not(None), c.lon.is_not(None))
                .group_by(cell_lat, cell_lon, c.country)
            ).all()
        start = since.replace(second=0, microsecond=0)
        per_minute = {start + timedelta(minutes=step): 0 for step in range(minutes + 1)}
        for bucket, count in recent:
            if bucket in per_minute:
                per_minute[bucket] = count
        live_start = live_since.replace(second=live_since.second // 10 * 10, microsecond=0)
        per_10s = {live_start + timedelta(seconds=10 * step): 0 for step in range(LIVE_WINDOWS + 1)}
        for bucket, count in live:
            if bucket in per_10s:
                per_10s[bucket] = count
        statuses = {status: count for status, count in by["status"]}
        confirmed = statuses.get(ReviewStatus.CONFIRMED_FRAUD.value, 0)
        false_positives = statuses.get(ReviewStatus.FALSE_POSITIVE.value, 0)
        return {
            "total": sum(statuses.values()),
            "per_minute": [{"minute": minute, "alerts": n} for minute, n in per_minute.items()],
            "per_10s": [{"start": start, "alerts": n} for start, n in per_10s.items()],
            "by_category_per_minute": [
                {"minute": minute, "category": category, "alerts": n}
                for minute, category, n in category_minutes
            ],
            "by_category": [{"category": k, "alerts": n} for k, n in by["category"]],
            "by_country": [{"country": k, "alerts": n} for k, n in by["country"]],
            "by_status": [{"status": k, "alerts": n} for k, n in by["status"]],
            "places": [
                {"lat": lat, "lon": lon, "country": country, "alerts": count}
                for lat, lon, country, count in places
            ],
            "reviewed": confirmed + false_positives,
            "confirmed_precision": confirmed / (confirmed + false_positives)
            if confirmed + false_positives
            else None,
        }

    def feedback(self, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
        """How verdicts come back: per day of review over the last `days` and per model version, the
        confirmed frauds, false positives and their precision; and the verdicts already published to
        the labels topic (what the next training reads) or still queued."""
        now = now or datetime.now(UTC)
        c = alerts.c
        confirmed = sa.func.sum(sa.case((c.status == ReviewStatus.CONFIRMED_FRAUD.value, 1), else_=0))
        cleared = sa.func.sum(sa.case((c.status == ReviewStatus.FALSE_POSITIVE.value, 1), else_=0))
        verdict = c.status.in_([status.value for status in VERDICTS])
        day = _day_of(c.reviewed_at)
        with self.engine.connect() as connection:
            by_day = connection.execute(
                sa.select(day, confirmed, cleared)
                .where(verdict, c.reviewed_at >= now - timedelta(days=days))
                .group_by(day)
                .order_by(day)
            ).all()
            by_version = connection.execute(
                sa.select(c.model_version, confirmed, cleared)
                .where(verdict)
                .group_by(c.model_version)
                .order_by(c.model_version)
            ).all()
            verdicts = connection.scalar(sa.select(sa.func.count()).where(verdict)) or 0
        queued = self.pending(LABELS_CHANNEL)

        def figures(yes: int, no: int) -> dict[str, Any]:
            return {"confirmed": yes, "false_positives": no, "precision": yes / (yes + no)}

        return {
            "by_day": [{"day": f"{d:%Y-%m-%d}", **figures(yes, no)} for d, yes, no in by_day],
            "by_model_version": [{"model_version": v, **figures(yes, no)} for v, yes, no in by_version],
            "labels_published": verdicts - queued,
            "labels_queued": queued,
        }

    # -- the notification outbox -----------------------------------------------------------------------

    def due(self, channel: str, limit: int, now: datetime | None = None) -> list[Pending]:
        """Notifications of `channel` whose next attempt is due, oldest first, with their alerts."""
        now = now or datetime.now(UTC)
        query = (
            sa.select(outbox.c.id, outbox.c.attempts, alerts)
            .join(alerts, alerts.c.transaction_id == outbox.c.transaction_id)
            .where(outbox.c.channel == channel, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            Pending(outbox_id=row.id, attempts=row.attempts, alert=public_alert(row._mapping)) for row in rows
        ]

    def pending(self, channel: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(outbox)
        if channel:
            query = query.where(outbox.c.channel == channel)
        with self.engine.connect() as connection:
            return connection.scalar(query) or 0

    def delivered(self, outbox_ids: Sequence[int]) -> None:
        with self.engine.begin() as connection:
            connection.execute(outbox.delete().where(outbox.c.id.in_(outbox_ids)))

    def failed(
        self, items: Sequence[Pending], channel: str, error: str, max_attempts: int, backoff_s: float
    ) -> int:
        """Count a failed attempt: retry later (backoff doubling) or, at `max_attempts`, give up to the
        notification dead letters. Returns how many were given up."""
        now = datetime.now(UTC)
        buried = [item for item in items if item.attempts + 1 >= max_attempts]
        retried = [item for item in items if item.attempts + 1 < max_attempts]
        with self.engine.begin() as connection:
            for item in retried:
                wait = backoff_s * 2**item.attempts
                connection.execute(
                    outbox.update()
                    .where(outbox.c.id == item.outbox_id)
                    .values(
                        attempts=item.attempts + 1,
                        last_error=error,
                        next_attempt_at=now + timedelta(seconds=wait),
                    )
                )
            if buried:
                connection.execute(
                    notification_dead_letters.insert(),
                    [
                        {
                            "transaction_id": item.alert[ALERT.key],
                            "channel": channel,
                            "attempts": item.attempts + 1,
                            "last_error": error,
                            "failed_at": now,
                        }
                        for item in buried
                    ],
                )
                connection.execute(
                    outbox.delete().where(outbox.c.id.in_([item.outbox_id for item in buried]))
                )
        return len(buried)

    def notification_dead_letters(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                notification_dead_letters.select().order_by(notification_dead_letters.c.id)
            )
            return [dict(row._mapping) for row in rows]


class _minute_of(sa.sql.functions.GenericFunction[datetime]):
    """The minute a timestamp falls in, truncated by the database (one row per minute, not per alert)."""

    type = UtcDateTime()
    inherit_cache = True


class _ten_seconds_of(sa.sql.functions.GenericFunction[datetime]):
    """The 10-second window a timestamp falls in, truncated by the database."""

    type = UtcDateTime()
    inherit_cache = True


@compiles(_ten_seconds_of, "sqlite")
def _ten_seconds_of_sqlite(element: _ten_seconds_of, compiler: Any, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"datetime(CAST(strftime('%s', {moment}) AS INTEGER) / 10 * 10, 'unixepoch')"


@compiles(_ten_seconds_of, "postgresql")
def _ten_seconds_of_postgresql(element: _ten_seconds_of, compiler: Any, **kw: Any) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"to_timestamp(floor(extract(epoch from {moment}) / 10) * 10) AT TIME ZONE 'UTC'"


class _day_of(sa.sql.functions.GenericFunction[datetime]):
    """The day a timestamp falls in (UTC), truncated by the database."""

    type = UtcDateTime()
    inherit_cache = True


@compiles(_day_of, "sqlite")
def _day_of_sqlite(element: _day_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d 00:00:00', {compiler.process(element.clauses, **kw)})"


@compiles(_day_of, "postgresql")
def _day_of_postgresql(element: _day_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('day', {compiler.process(element.clauses, **kw)})"


@compiles(_minute_of, "sqlite")
def _minute_of_sqlite(element: _minute_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:%M:00', {compiler.process(element.clauses, **kw)})"


@compiles(_minute_of, "postgresql")
def _minute_of_postgresql(element: _minute_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('minute', {compiler.process(element.clauses, **kw)})"


def public_alert(row: Any) -> dict[str, Any]:
    """An alert as the topic carried it (the ALERT fields only): what notifications send."""
    return {name: row[name] for name in ALERT.names}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets the API read while the consumer writes; FULL sync makes a commit durable before the
    consumer commits its Kafka offsets."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
