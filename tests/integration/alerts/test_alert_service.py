"""The alert service as users run it (`fraudguard alerts serve`, its own process) against the real
local Kafka broker, a local webhook endpoint, a local SMTP server and headless Chromium."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import hypothesis
import pyarrow as pa
import pytest
import schemathesis
from confluent_kafka import TopicPartition
from schemathesis.checks import not_a_server_error

from fraudguard.alerts.accounts import Accounts
from fraudguard.alerts.store import AlertStore, Role
from fraudguard.config import TopicRole, load_settings
from fraudguard.kafka.clients import bootstrap_servers, make_consumer, make_producer
from fraudguard.kafka.dead_letter import COMPONENT, REASON, read_headers
from fraudguard.kafka.local_broker.control import node_down, node_up
from fraudguard.kafka.topics import create_topics
from fraudguard.schemas import AGGREGATE, ALERT, LABEL, REVIEW, format_timestamp
from tests.conftest import CONFIG_FILE, FRAUDGUARD, PROJECT_ROOT, consume_all, free_port, run_cli
from tests.notification_peers import smtp_server, webhook_server
from tests.samples.alerts import sample_alerts
from tests.samples.history import history_row, write_history

pytestmark = pytest.mark.integration
UNIQUE = 1000
MALFORMED = (b"{not json", b'{"transaction_id": "t-1"}', b"[]", b"", b'{"score": "high"}')
UNSTORABLE = json.dumps({**json.loads(sample_alerts(1, seed=99)[1][0]), "user_id": "u-\ud800"}).encode()
"""A well-formed alert whose text SQLite cannot hold (a lone surrogate): the store refuses it every time."""
TOKEN = "test-token"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


class ServiceProcess:
    """`fraudguard alerts serve` in its own process group, as a user would start it."""

    def __init__(self, environ: dict[str, str], log: Path) -> None:
        self.environ = environ
        self.log = log
        self.url = f"http://127.0.0.1:{environ['FRAUDGUARD__ALERTS__PORT']}"
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True, **extra: str) -> ServiceProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*FRAUDGUARD, "--config", str(CONFIG_FILE), "alerts", "serve"],
                env={**os.environ, **self.environ, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_for(lambda health: True, 60, "the API to answer")
        return self

    def health(self) -> dict | None:
        try:
            return httpx.get(f"{self.url}/api/health", timeout=5).json()
        except httpx.HTTPError:
            return None

    def wait_for(self, condition, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        health = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited ({self.process.returncode}) waiting for {what}")
            health = self.health()
            if health is not None and condition(health):
                return health
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; health: {health}; log: {self.log}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def publish(
    settings, values: list[bytes], keys: list[bytes | None], role: TopicRole = TopicRole.ALERTS
) -> None:
    producer = make_producer(settings)
    topic = settings.topics.get(role).name
    for key, value in zip(keys, values, strict=True):
        producer.produce(topic, value, key)
        producer.poll(0)
    assert producer.flush(60) == 0


def alerts_on_topic(settings) -> set[str]:
    """The transaction ids of every well-formed alert on the topic (what a consumer must store)."""
    keys = set()
    for message in consume_all(settings, TopicRole.ALERTS):
        if message.value() == UNSTORABLE:
            continue
        with contextlib.suppress(ValueError):
            keys.add(ALERT.decode(message.value() or b"")["transaction_id"])
    return keys


def service_environment(broker_settings, runtime: Path, suffix: str, **extra: str) -> dict[str, str]:
    return {
        "FRAUDGUARD__RUNTIME_DIR": str(runtime),
        "FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(broker_settings),
        # a SIGKILLed member leaves no LeaveGroup: the group waits out its session (45 s by default)
        "FRAUDGUARD__KAFKA__CLIENT_PROPERTIES": '{"session.timeout.ms": 6000}',
        "FRAUDGUARD__TOPICS__ALERTS__NAME": f"fraud-alerts-{suffix}",
        "FRAUDGUARD__TOPICS__DEAD_LETTER__NAME": f"dead-letter-{suffix}",
        "FRAUDGUARD__TOPICS__LABELS__NAME": f"labels-{suffix}",
        "FRAUDGUARD__TOPICS__AGGREGATES__NAME": f"aggregates-{suffix}",
        "FRAUDGUARD__ALERTS__CONSUMER_GROUP": f"alerts-{suffix}",
        "FRAUDGUARD__ALERTS__PORT": str(free_port()),
        "FRAUDGUARD__ALERTS__BATCH_SIZE": "200",
        "FRAUDGUARD__ALERTS__API_TOKEN": TOKEN,
        **extra,
    }


@pytest.fixture(scope="module")
def published(broker, tmp_path_factory):
    """1,000 alerts on a topic of their own, each published twice, the first 300 a third time (a replay
    after a crash upstream), with malformed messages and one the store cannot hold mixed in."""
    broker_settings, _ = broker
    runtime = tmp_path_factory.mktemp("alerts")
    environ = service_environment(broker_settings, runtime, uuid.uuid4().hex[:8])
    settings = load_settings(CONFIG_FILE, environ=environ)
    roles = (TopicRole.ALERTS, TopicRole.DEAD_LETTER, TopicRole.LABELS, TopicRole.AGGREGATES)
    create_topics(broker_settings, [settings.topics.get(role) for role in roles])
    keys, values = sample_alerts(UNIQUE, seed=3)
    encoded = [key.encode() for key in keys]
    publish(settings, [*values[:10], UNSTORABLE, *values[10:], *MALFORMED[:2]],
            [*encoded[:10], b"unstorable", *encoded[10:], b"bad-1", b"bad-2"])  # fmt: skip
    publish(settings, [*values, *MALFORMED[2:]], [*encoded, None, None, b"bad-5"])
    publish(settings, values[:300], encoded[:300])
    return settings, environ, runtime, keys


@pytest.fixture(scope="module")
def served(published):
    """The service with every notification channel on, until it has stored and notified everything."""
    settings, environ, runtime, _ = published
    smtp_port = free_port()
    with webhook_server() as webhook, smtp_server(smtp_port) as mailbox:
        webhook.failures = 3
        service = ServiceProcess(environ, runtime / "alerts.log").start(
            FRAUDGUARD__ALERTS__WEBHOOK__URL=webhook.url,
            FRAUDGUARD__ALERTS__WEBHOOK__TOKEN="hook-secret",
            FRAUDGUARD__ALERTS__WEBHOOK__BACKOFF_S="0.1",
            FRAUDGUARD__ALERTS__EMAIL__SMTP_HOST="127.0.0.1",
            FRAUDGUARD__ALERTS__EMAIL__SMTP_PORT=str(smtp_port),
            FRAUDGUARD__ALERTS__EMAIL__RECIPIENTS='["fraud-team@example.com"]',
            FRAUDGUARD__ALERTS__EMAIL__DIGEST_INTERVAL_S="2",
            FRAUDGUARD__ALERTS__EMAIL__MAX_ALERTS_LISTED="20",
        )
        started = time.monotonic()
        messages = 2 * UNIQUE + 300 + len(MALFORMED) + 1  # everything published
        health = service.wait_for(
            lambda h: (
                sum(h["consumer"][kind] for kind in ("stored", "duplicates", "dead_letters")) >= messages
                and h["notifications"]["pending"] == 0
            ),
            120,
            "every message read and every alert notified",
        )
        yield service, settings, health, webhook, mailbox, time.monotonic() - started
        assert service.stop() == 0


def test_duplicates_and_replays_are_stored_exactly_once(served, published):
    _, settings, health, *_ = served
    keys = published[3]
    store = AlertStore(settings.alerts.database_url)
    stored = [row["transaction_id"] for row in store.iterate()]
    store.close()
    assert len(stored) == UNIQUE and set(stored) == set(keys)
    assert health["consumer"]["duplicates"] == UNIQUE + 300


def test_malformed_messages_go_to_the_dead_letter_topic_with_reasons(served):
    _, settings, *_ = served
    letters = consume_all(settings, TopicRole.DEAD_LETTER)
    assert sorted(message.value() or b"" for message in letters) == sorted([*MALFORMED, UNSTORABLE])
    for message in letters:
        headers = read_headers(message.headers())
        assert headers[COMPONENT] == "alerts" and headers[REASON]
    reasons = {(m.value() or b""): read_headers(m.headers())[REASON] for m in letters}
    assert reasons[UNSTORABLE].startswith("refused by the alert store: UnicodeEncodeError")
    assert "not valid JSON" in reasons[b"{not json"]
    assert "score: expected double" in reasons[b'{"score": "high"}']


def test_the_webhook_gets_every_new_alert_once_after_retries(served, published):
    _, _, health, webhook, *_ = served
    delivered = [ALERT.decode(body)["transaction_id"] for body in webhook.received]
    assert sorted(delivered) == sorted(published[3])  # every alert once, duplicates and replays not again
    assert webhook.failed == 3 and health["notifications"]["sent"]["webhook"] == UNIQUE
    assert webhook.authorizations == {"Bearer hook-secret"}


def test_email_digests_are_rate_limited(served):
    *_, mailbox, elapsed_s = served
    counts = [int(message["Subject"].split()[1]) for message in mailbox]
    assert sum(counts) == UNIQUE  # every alert in exactly one digest
    assert len(mailbox) <= elapsed_s / 2 + 1  # at most one e-mail per 2 s interval, not one per alert
    body = mailbox[0].get_payload()
    assert body.count("\n- ") <= 20 and ("more: see the dashboard" in body) == (counts[0] > 20)
    assert mailbox[0]["To"] == "fraud-team@example.com"


def test_the_api_filters_reviews_and_exports(served, published):
    service, settings, *_ = served
    api = httpx.Client(base_url=service.url, timeout=10)
    page = api.get("/api/alerts", params={"min_score": 0.9, "limit": 1000}).json()
    assert page["total"] == len(page["alerts"]) > 0 and all(a["score"] >= 0.9 for a in page["alerts"])
    one = page["alerts"][0]
    by_user = api.get("/api/alerts", params={"user_id": one["user_id"]}).json()
    assert one["transaction_id"] in {a["transaction_id"] for a in by_user["alerts"]}
    assert api.get(f"/api/alerts/{one['transaction_id']}").json()["score"] == one["score"]
    assert api.get("/api/alerts/no-such-id").status_code == 404

    review = {"status": "confirmed_fraud", "note": "customer confirmed"}
    assert api.patch(f"/api/alerts/{one['transaction_id']}", json=review).status_code == 401
    wrong = api.patch(
        f"/api/alerts/{one['transaction_id']}", json=review, headers={"Authorization": "Bearer x"}
    )
    assert wrong.status_code == 401
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    updated = api.patch(f"/api/alerts/{one['transaction_id']}", json=review, headers=authorized).json()
    assert updated["status"] == "confirmed_fraud" and updated["reviewed_at"]
    other = page["alerts"][1]["transaction_id"]
    api.patch(
        f"/api/alerts/{other}", json={"status": "false_positive"}, headers=authorized
    ).raise_for_status()
    assert api.patch(f"/api/alerts/{other}", json={"status": "maybe"}, headers=authorized).status_code == 422

    stats = api.get("/api/stats").json()
    assert stats["total"] == UNIQUE and stats["reviewed"] == 2 and stats["confirmed_precision"] == 0.5
    assert sum(row["alerts"] for row in stats["by_category"]) == UNIQUE
    rows = list(csv.DictReader(io.StringIO(api.get("/api/alerts.csv", params={"min_score": 0.9}).text)))
    assert {row["transaction_id"] for row in rows} == {a["transaction_id"] for a in page["alerts"]}
    assert "/api/alerts" in api.get("/openapi.json").json()["paths"]

    environ = published[1]
    run_cli("alerts", "export", "--labels", env=environ)
    import pyarrow.parquet as pq

    labels = pq.read_table(settings.alerts.labels_path).to_pylist()
    verdicts = {(one["transaction_id"], True), (other, False)}
    assert {(row["transaction_id"], row["is_fraud"]) for row in labels} == verdicts

    # Each verdict reaches the labels topic, where the risk features and the nightly training read it.
    deadline = time.monotonic() + 30
    while (
        len(published_labels := [LABEL.decode(m.value()) for m in consume_all(settings, TopicRole.LABELS)])
        < 2
    ):
        assert time.monotonic() < deadline, published_labels
        time.sleep(0.5)
    assert {(label["transaction_id"], label["is_fraud"]) for label in published_labels} == verdicts
    assert all(label["source"] == REVIEW for label in published_labels)
    reviewed_alert = next(
        label for label in published_labels if label["transaction_id"] == one["transaction_id"]
    )
    assert reviewed_alert["merchant_id"] == one["merchant_id"]


def test_the_api_answers_only_to_its_own_names_with_bounded_work_and_protective_headers(served, published):
    service, *_ = served
    api = httpx.Client(base_url=service.url, timeout=10)
    answered = api.get("/api/alerts", params={"limit": 1})
    assert answered.status_code == 200
    assert answered.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in answered.headers["Content-Security-Policy"]
    rebound = api.get("/api/alerts", headers={"Host": "attacker.example"})  # a DNS-rebound page's request
    assert rebound.status_code == 400 and "transaction_id" not in rebound.text

    some = published[3][5]
    long_note = {"status": "reviewing", "note": "x" * 2_001}
    authorized = {"Authorization": f"Bearer {TOKEN}"}
    assert api.patch(f"/api/alerts/{some}", json=long_note, headers=authorized).status_code == 422
    capped = api.get("/api/alerts.csv", params={"limit": 10}).text
    assert len(capped.strip().splitlines()) == 1 + 10
    assert api.get("/api/alerts.csv", params={"limit": 10**7}).status_code == 422
    assert api.get("/api/alerts", params={"after_id": 2**80}).status_code == 422  # no database integer
    assert api.get("/api/alerts.csv", params={"since": "0001-01-01T00:01:00+01:01"}).status_code == 422


def test_no_request_makes_the_api_fail_or_leak(served):
    """Requests generated from the OpenAPI spec (schemathesis; valid and not) to every operation, the
    writes with the token: no server error, no stack trace, no secret in any answer."""
    service, *_ = served
    spec = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in spec.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/api/alerts", "/api/alerts/{transaction_id}"}
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=30, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
        def answers_safely(case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            case.validate_response(response, checks=[not_a_server_error])
            for leak in ("Traceback", TOKEN, "hook-secret", 'File "/'):
                assert leak not in response.text, (leak, case.method, case.path, response.status_code)

        answers_safely()


@contextlib.contextmanager
def chromium(profile: Path):
    """Debian's headless Chromium through its chromedriver, offline; yields (driver, a 30 s wait). The
    wait retries a condition that met an element the dashboard has just redrawn."""
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the network log, for requested()
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for drivers online
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver, WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])
    finally:
        driver.quit()


def requested(driver) -> set[str]:
    """Every URL the browser asked for since the last call, from its DevTools network log."""
    events = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return {e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"}


def test_the_dashboard_works_offline_and_updates_live(served, published, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    service, settings, *_ = served
    with chromium(tmp_path / "profile") as (driver, wait):
        driver.get(f"{service.url}/")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) == 200)
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(name.startswith(service.url) for name in resources)  # nothing from a CDN
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#per-minute rect"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map circle"))
        land = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map path.land"))
        assert land[0].get_attribute("d").count("Z") > 100 and land[0].rect["width"] > 50
        assert driver.find_element(By.CSS_SELECTOR, "#map path.borders").get_attribute("d").count("M") > 100
        the_map = driver.find_element(By.ID, "map")
        fitted = the_map.get_attribute("data-view")
        Select(driver.find_element(By.ID, "map-region")).select_by_value("europe")
        wait.until(lambda d: the_map.get_attribute("data-view") != fitted)
        west, south, east, north = map(float, the_map.get_attribute("data-view").split(","))
        assert west <= -25 and south <= 34 and east >= 45 and north >= 72, "the region is in view"
        # a wheel turn over the map zooms in by a quarter, keeping the place under the pointer in place
        after = driver.execute_script(
            """const map = arguments[0], box = map.getBoundingClientRect();
            map.dispatchEvent(new WheelEvent("wheel", {deltaY: -100, bubbles: true, cancelable: true,
              clientX: box.left + box.width / 4, clientY: box.top + box.height / 3}));
            return map.dataset.view;""",
            the_map,
        )
        zoomed_west, zoomed_south, zoomed_east, zoomed_north = map(float, after.split(","))
        assert (east - west) / (zoomed_east - zoomed_west) == pytest.approx(1.25, abs=0.01)
        assert west + (east - west) / 4 == pytest.approx(
            zoomed_west + (zoomed_east - zoomed_west) / 4, abs=0.1
        )
        assert north - (north - south) / 3 == pytest.approx(
            zoomed_north - (zoomed_north - zoomed_south) / 3, abs=0.1
        )
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "map-europe.png"))
        ActionChains(driver).double_click(the_map).perform()  # back to fitting the alerts
        wait.until(lambda d: the_map.get_attribute("data-view") == fitted)
        assert Select(driver.find_element(By.ID, "map-region")).first_selected_option.text == "fit the alerts"
        urls = requested(driver)
        assert f"{service.url}/api/map/world" in urls
        network = {url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:"))}
        elsewhere = {
            url for url in network if not url.startswith(service.url)
        }  # chrome:// is the browser's own
        assert not elsewhere, f"nothing from the internet: {elsewhere}"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#per-10s rect"))
        lines = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#by-category polyline"))
        categories = {line.get_attribute("data-series") for line in lines}
        assert categories == {
            row["category"] for row in httpx.get(f"{service.url}/api/stats").json()["by_category"]
        }

        keys, values = sample_alerts(1, seed=99, start=datetime.now(UTC))
        publish(settings, values, [keys[0].encode()])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-transaction-id="{keys[0]}"]'))

        downloads = tmp_path / "downloads"
        driver.execute_cdp_cmd(
            "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        driver.find_element(By.ID, "download-csv").click()
        wait.until(lambda d: (downloads / "fraud-alerts.csv").exists())
        rows = list(csv.DictReader((downloads / "fraud-alerts.csv").open()))
        assert len(rows) == UNIQUE + 1 and keys[0] in {row["transaction_id"] for row in rows}
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))


def top_products(start: datetime, windows: int, products: list[str]) -> tuple[list[bytes], list[bytes]]:
    """Aggregate messages as the stream publishes them: `windows` windows of 30 s from `start`, each
    ranking `products` (the first most bought)."""
    rows = [
        {
            "aggregate_id": f"top_products/{format_timestamp(start + timedelta(seconds=30 * w))}/{rank}",
            "measure": "top_products",
            "window_start": start + timedelta(seconds=30 * w),
            "window_end": start + timedelta(seconds=30 * (w + 1)),
            "rank": rank,
            "product_id": product,
            "count": 2 * len(products) - rank + w,
            "updated_at": datetime.now(UTC),
        }
        for w in range(windows)
        for rank, product in enumerate(products, start=1)
    ]
    keys, values = AGGREGATE.encode(pa.Table.from_pylist(rows, schema=AGGREGATE.arrow()))
    return [key.encode() for key in keys], values


def test_the_dashboard_charts_the_top_products_live(served, tmp_path):
    """The top-products chart follows the aggregates topic: a window published while the page is open
    is drawn at the next refresh; a malformed aggregate is a dead letter."""
    from selenium.webdriver.common.by import By

    service, settings, *_ = served
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    publish(settings, *reversed(top_products(start, 3, ["p-1", "p-2", "p-3"])), TopicRole.AGGREGATES)

    def chart(driver) -> dict[str, int] | None:
        """Each product's line and how many windows it spans, once the chart shows the windows."""
        svg = driver.find_element(By.ID, "top-products")
        lines = svg.find_elements(By.TAG_NAME, "polyline")
        return {
            line.get_attribute("data-series"): len(line.get_attribute("points").split()) for line in lines
        }

    with chromium(tmp_path / "profile") as (driver, wait):
        driver.get(f"{service.url}/")
        wait.until(lambda d: chart(d) == {"p-1": 3, "p-2": 3, "p-3": 3})
        assert [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#product-legend span")] == [
            "p-1",
            "p-2",
            "p-3",
        ]
        later = start + timedelta(seconds=90)
        publish(settings, *reversed(top_products(later, 1, ["p-4", "p-1"])), TopicRole.AGGREGATES)
        wait.until(lambda d: chart(d) == {"p-1": 4, "p-2": 4, "p-3": 4, "p-4": 4})
        svg = driver.find_element(By.ID, "top-products")
        assert svg.get_attribute("data-last-window") == format_timestamp(later).replace(".000", "")
        assert driver.find_element(By.ID, "top-products-window").text == "30"
        driver.save_screenshot(str(ARTIFACTS / "top-products.png"))
    assert service.health()["aggregates"]["last_window"] == format_timestamp(later).replace(".000", "")
    windows = httpx.get(f"{service.url}/api/aggregates", params={"windows": 2}).json()["windows"]
    assert [w["ranks"] for w in windows] == [
        [{"rank": r, "product_id": p, "count": 8 - r} for r, p in enumerate(["p-1", "p-2", "p-3"], 1)],
        [{"rank": 1, "product_id": "p-4", "count": 3}, {"rank": 2, "product_id": "p-1", "count": 2}],
    ]

    publish(settings, [b'{"measure": "top_products"}'], [b"bad-aggregate"], TopicRole.AGGREGATES)
    service.wait_for(lambda h: h["aggregates"]["dead_letters"] == 1, 30, "the malformed aggregate")
    letters = [m for m in consume_all(settings, TopicRole.DEAD_LETTER) if m.key() == b"bad-aggregate"]
    assert len(letters) == 1 and "aggregate_id: missing" in read_headers(letters[0].headers())[REASON]


def test_a_reviewer_confirms_an_alert_in_the_dashboard_and_a_viewer_cannot(served, tmp_path):
    """Signed in as a reviewer: open an alert, see its context, confirm it, see the audit entry and the
    confirmed precision change; a concurrent change is a conflict. Signed in as a viewer: no review
    buttons, and the page's own writes get 403, then 401 once signed out. A reviewer's write without the
    CSRF header gets 403, with a stale version 409."""
    from selenium.webdriver.common.by import By

    service, settings, *_ = served
    store = AlertStore(settings.alerts.database_url)
    accounts = Accounts(store)
    accounts.add_user("rita", "rita-reviews-alerts", Role.REVIEWER)
    accounts.add_user("vic", "vic-only-watches", Role.VIEWER)
    max_token = accounts.create_token(
        accounts.add_user("max", "max-reviews-too", Role.REVIEWER).username, "t"
    )[1]
    store.close()
    ARTIFACTS.mkdir(exist_ok=True)

    def sign_in(driver, wait, name: str, password: str) -> None:
        driver.get(f"{service.url}/")
        form = driver.find_element(By.ID, "sign-in")
        wait.until(lambda d: form.is_displayed())
        form.find_element(By.NAME, "username").send_keys(name)
        form.find_element(By.NAME, "password").send_keys(password)
        form.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda d: d.find_element(By.ID, "who").text == name)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")) == 200)

    with chromium(tmp_path / "reviewer") as (driver, wait):
        sign_in(driver, wait, "rita", "rita-reviews-alerts")
        wait.until(lambda d: d.find_element(By.ID, "total").text[:1].isdigit())  # the figures are in
        precision_before = driver.find_element(By.ID, "precision").text
        row = driver.find_element(By.CSS_SELECTOR, "#alerts tbody tr")  # the newest alert
        assert row.find_element(By.CSS_SELECTOR, "td.status").text == "new"
        transaction_id = row.get_attribute("data-transaction-id")
        alert = httpx.get(f"{service.url}/api/alerts/{transaction_id}", timeout=10).json()
        scored = datetime.fromisoformat(alert["event_time"]).astimezone(UTC).replace(tzinfo=None)
        write_history(settings.stream.scored_history_dir, [
            history_row(transaction_id, alert["user_id"], scored, user_age=47.0, alerted=True),
            history_row("the-day-before", alert["user_id"], scored - timedelta(days=1), amount=12.5),
        ])  # fmt: skip
        row.click()
        wait.until(lambda d: d.find_element(By.ID, "review-id").text == transaction_id)
        facts = driver.find_element(By.ID, "review-facts").text
        assert "threshold" in facts and "model" in facts and "version\n1" in facts
        assert driver.find_elements(By.CSS_SELECTOR, "#review-reasons li")
        recent = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recent tbody tr"))
        assert len(recent) == 1 and "12.50" in recent[0].text
        assert "47" in driver.find_element(By.ID, "context-user").text
        assert "tx_count_1h" in driver.find_element(By.ID, "context-features").text
        assert "fraud_scenario" not in driver.find_element(By.ID, "review").text
        driver.find_element(By.CSS_SELECTOR, "#review-form textarea").send_keys("cardholder confirmed")
        driver.find_element(By.CSS_SELECTOR, '#review-form button[value="confirmed_fraud"]').click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#audit tbody tr"))
        audit = driver.find_element(By.CSS_SELECTOR, "#audit tbody tr").text
        assert (
            "rita" in audit
            and "new" in audit
            and "confirmed fraud" in audit
            and "cardholder confirmed" in audit
        )
        wait.until(lambda d: d.find_element(By.ID, "precision").text != precision_before)
        version = driver.find_element(
            By.CSS_SELECTOR, f'#by-model-version tr[data-model-version="{alert["model_version"]}"]'
        )
        assert int(version.find_elements(By.TAG_NAME, "td")[1].text) >= 1
        wait.until(
            lambda d: (
                "the next nightly training learns from them" in d.find_element(By.ID, "next-training").text
            )
        )
        assert driver.find_elements(By.CSS_SELECTOR, "#precision-by-day rect")
        driver.save_screenshot(str(ARTIFACTS / "review-confirmed.png"))

        # another reviewer changes the alert while rita's panel still shows the version she confirmed
        seen = httpx.get(f"{service.url}/api/alerts/{transaction_id}", timeout=10).json()["version"]
        change = {"status": "false_positive", "note": "known customer", "version": seen}
        headers = {"Authorization": f"Bearer {max_token}"}
        url = f"{service.url}/api/alerts/{transaction_id}"
        assert httpx.patch(url, json=change, headers=headers, timeout=10).status_code == 200
        driver.find_element(By.CSS_SELECTOR, '#review-form button[value="reviewing"]').click()
        message = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#review-message.bad"))
        assert "changed" in message.text, message.text
        wait.until(lambda d: "max" in d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")[-1].text)
        assert "false positive" in driver.find_element(By.ID, "review-facts").text
        assert httpx.get(url, timeout=10).json()["status"] == "false_positive", "no silent overwrite"
        driver.save_screenshot(str(ARTIFACTS / "review-conflict.png"))

        fresh = [r for r in driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
                 if r.find_element(By.CSS_SELECTOR, "td.status").text == "new"][:2]  # fmt: skip
        bulk_ids = [r.get_attribute("data-transaction-id") for r in fresh]
        for r in fresh:
            r.find_element(By.CSS_SELECTOR, "input.pick").click()
        driver.find_element(By.CSS_SELECTOR, '#bulk button[value="false_positive"]').click()
        wait.until(lambda d: d.find_element(By.ID, "bulk-message").text == "2 reviewed")
        driver.find_element(By.NAME, "unreviewed_first").click()
        driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        # the three reviewed alerts were among the newest 200 shown; unreviewed first, all 200 are new
        statuses = "return [...document.querySelectorAll('#alerts tbody td.status')].map(c => c.textContent)"
        wait.until(lambda d: set(d.execute_script(statuses)) == {"new"})
        newest = httpx.get(f"{service.url}/api/alerts", params={"limit": 1}, timeout=10).json()["alerts"][0]
        assert newest["transaction_id"] == transaction_id, "the newest alert is a reviewed one"
        driver.execute_async_script("pollNewAlerts().then(arguments[0])")  # the live poll leaves it below
        assert set(driver.execute_script(statuses)) == {"new"}
        driver.save_screenshot(str(ARTIFACTS / "review-bulk.png"))
    for bulk_id in bulk_ids:
        assert (
            httpx.get(f"{service.url}/api/alerts/{bulk_id}", timeout=10).json()["status"] == "false_positive"
        )
    reviewed = httpx.get(f"{service.url}/api/alerts/{transaction_id}", timeout=10).json()
    assert reviewed["status"] == "false_positive" and reviewed["reviewed_by"] == "max"

    with chromium(tmp_path / "viewer") as (driver, wait):
        sign_in(driver, wait, "vic", "vic-only-watches")
        driver.find_element(By.CSS_SELECTOR, f'tr[data-transaction-id="{transaction_id}"]').click()
        wait.until(lambda d: d.find_element(By.ID, "review-id").text == transaction_id)
        assert not driver.find_element(By.ID, "review-form").is_displayed()
        assert "rita" in driver.find_element(By.CSS_SELECTOR, "#audit tbody").text
        driver.save_screenshot(str(ARTIFACTS / "review-viewer.png"))
        rows = [
            r.get_attribute("data-transaction-id")
            for r in driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
        ]
        driver.find_element(By.TAG_NAME, "body").send_keys("j")  # the keyboard moves to the next alert
        following = rows[rows.index(transaction_id) + 1]
        wait.until(lambda d: d.find_element(By.ID, "review-id").text == following)

        # the API behind the page refuses, from this browser's own session, what the buttons do not offer
        path = f"/api/alerts/{following}"
        before = httpx.get(f"{service.url}{path}", timeout=10).json()
        change = {"status": "confirmed_fraud", "version": before["version"]}
        assert browser_status(driver, "PATCH", path, change) == 403, "a viewer cannot review"
        driver.find_element(By.ID, "sign-out").click()
        wait.until(lambda d: d.find_element(By.ID, "sign-in").is_displayed())
        assert browser_status(driver, "PATCH", path, change) == 401, "signed out"
    with chromium(tmp_path / "no-csrf") as (driver, wait):
        sign_in(driver, wait, "rita", "rita-reviews-alerts")
        assert browser_status(driver, "PATCH", path, change, csrf=False) == 403, "a write without CSRF"
        stale = {**change, "version": before["version"] - 1}
        assert browser_status(driver, "PATCH", path, stale) == 409, "a stale version"
    after = httpx.get(f"{service.url}{path}", timeout=10).json()
    assert (after["status"], after["version"]) == (before["status"], before["version"])


def browser_status(driver, method: str, path: str, body: dict, csrf: bool = True) -> int:
    """The HTTP status of a write sent by the page itself: its cookies, and its CSRF header if asked."""
    return driver.execute_async_script(
        """const [method, path, body, csrf, done] = arguments;
        const headers = {"Content-Type": "application/json", ...(csrf ? csrfHeader() : {})};
        fetch(path, {method, headers, body: JSON.stringify(body)}).then((r) => done(r.status));""",
        method, path, body, csrf,
    )  # fmt: skip


def test_kill_9_between_store_and_commit_loses_and_duplicates_nothing(published, tmp_path):
    settings, environ, *_ = published
    expected = alerts_on_topic(settings)
    database = f"sqlite:///{tmp_path / 'crash.db'}"
    crash_environ = {
        **environ,
        "FRAUDGUARD__ALERTS__DATABASE_URL": database,
        "FRAUDGUARD__ALERTS__CONSUMER_GROUP": f"crash-{uuid.uuid4().hex[:6]}",
        "FRAUDGUARD__ALERTS__PORT": str(free_port()),
    }
    service = ServiceProcess(crash_environ, tmp_path / "alerts.log")
    service.start(wait=False, FRAUDGUARD_FAILPOINTS="alerts.after_store")
    assert service.process is not None and service.process.wait(timeout=90) == -signal.SIGKILL

    store = AlertStore(database)
    stored_before = store.count()
    assert 0 < stored_before <= 200  # the first batch was stored ...
    consumer = make_consumer(settings, crash_environ["FRAUDGUARD__ALERTS__CONSUMER_GROUP"])
    topic = settings.topics.get(TopicRole.ALERTS)
    committed = consumer.committed(
        [TopicPartition(topic.name, p) for p in range(topic.partitions)], timeout=10
    )
    consumer.close()
    assert all(tp.offset < 0 for tp in committed)  # ... and its offsets never committed

    service.start()
    service.wait_for(lambda h: store.count() == len(expected), 90, "all alerts stored")
    time.sleep(1)  # anything left to consume would land now
    stored = [row["transaction_id"] for row in store.iterate()]
    store.close()
    assert sorted(stored) == sorted(expected)  # the replayed first batch added no second row
    assert service.stop() == 0


def test_the_service_rides_out_a_broker_outage(broker, published, tmp_path):
    broker_settings, _ = broker
    settings, environ, *_ = published
    expected = len(alerts_on_topic(settings))
    database = f"sqlite:///{tmp_path / 'outage.db'}"
    outage_environ = {
        **environ,
        "FRAUDGUARD__ALERTS__DATABASE_URL": database,
        "FRAUDGUARD__ALERTS__CONSUMER_GROUP": f"outage-{uuid.uuid4().hex[:6]}",
        "FRAUDGUARD__ALERTS__PORT": str(free_port()),
    }
    service = ServiceProcess(outage_environ, tmp_path / "alerts.log").start()
    service.wait_for(lambda h: h["consumer"]["stored"] == expected, 90, "the backlog stored")
    node_down(broker_settings, 1)
    time.sleep(10)
    node_up(broker_settings, 1)
    later_keys, later_values = sample_alerts(100, seed=7)
    publish(settings, later_values, [key.encode() for key in later_keys])
    service.wait_for(lambda h: h["consumer"]["stored"] == expected + 100, 90, "alerts after the outage")
    store = AlertStore(database)
    assert store.count() == expected + 100
    store.close()
    assert service.stop() == 0


def test_tail_prints_alerts_from_the_topic_and_export_writes_csv(served, published):
    _, settings, *_ = served
    environ = published[1]
    tailed = run_cli("alerts", "tail", "--from-beginning", "--max", "5", "--json", env=environ, timeout=60)
    lines = tailed.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("{") for line in lines)
    readable = run_cli("alerts", "tail", "--from-beginning", "--max", "3", env=environ, timeout=60).stdout
    assert readable.count("score") == 3
    exported = run_cli("alerts", "export", "--csv", "-", "--min-score", "0.95", env=environ).stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    store = AlertStore(settings.alerts.database_url)
    assert len(rows) == sum(1 for row in store.iterate() if row["score"] >= 0.95) > 0
    store.close()
