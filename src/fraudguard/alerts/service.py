"""The alert service process: the consumer, the notification dispatcher, the live aggregates and the
HTTP server together."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import uvicorn

from fraudguard.alerts.accounts import Accounts
from fraudguard.alerts.api import Access, create_app
from fraudguard.alerts.consumer import AlertConsumer
from fraudguard.alerts.context import ScoredHistory
from fraudguard.alerts.live_aggregates import LiveAggregates
from fraudguard.alerts.notify.dispatcher import Dispatcher, configured_channels
from fraudguard.alerts.notify.labels import LabelChannel
from fraudguard.alerts.store import AlertStore, Role
from fraudguard.config import Settings
from fraudguard.paths import RuntimePaths
from fraudguard.redact import without_credentials

log = logging.getLogger("fraudguard.alerts.service")
RESTART_WAIT_S = 5.0
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class AlertService:
    def __init__(self, settings: Settings, host: str | None = None, port: int | None = None) -> None:
        alerts = settings.alerts
        self.host = host or alerts.host
        self.port = alerts.port if port is None else port
        self.store = AlertStore(alerts.database_url)
        accounts = Accounts(self.store)
        _first_admin(settings, accounts)
        channels = configured_channels(alerts)
        self.consumer = AlertConsumer(settings, self.store, tuple(c.name for c in channels))
        self.aggregates = LiveAggregates(settings)
        self.dispatcher = Dispatcher(self.store, [*channels, LabelChannel(settings, self.store)])
        access = Access(
            session_secret=_session_secret(settings),
            open_reads=self.host in LOOPBACK,
            secure_cookies=alerts.secure_cookies,
            sign_in_attempts_per_minute=alerts.sign_in_attempts_per_minute,
            service_token=alerts.api_token.get_secret_value() if alerts.api_token else None,
        )
        self.app = create_app(self.store, accounts, access, self.health, alerts.allowed_hosts,
                              settings.training.include_confirmed_labels,
                              ScoredHistory(settings.stream.scored_history_dir), self.aggregates)  # fmt: skip
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def health(self) -> dict[str, Any]:
        consumer = asdict(self.consumer.figures)
        if consumer["last_error"]:  # its first line, no credentials: the health check is not a log
            consumer["last_error"] = without_credentials(consumer["last_error"].splitlines()[0])[:200]
        return {
            "consumer": consumer,
            "aggregates": asdict(self.aggregates.figures),
            "notifications": {
                "sent": self.dispatcher.sent,
                "given_up": self.dispatcher.given_up,
                "pending": self.store.pending(),
            },
        }

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM; then the consumer finishes its batch and everything stops."""
        workers = [
            threading.Thread(
                target=_supervised, args=("consumer", self.consumer.run, self.stop), daemon=True
            ),
            threading.Thread(
                target=_supervised, args=("dispatcher", self.dispatcher.run, self.stop), daemon=True
            ),
            threading.Thread(
                target=_supervised, args=("aggregates", self.aggregates.run, self.stop), daemon=True
            ),
        ]
        for worker in workers:
            worker.start()
        server = uvicorn.Server(
            uvicorn.Config(self.app, host=self.host, port=self.port, log_config=None, access_log=False)
        )

        def request_stop(*_: object) -> None:
            """Ours while uvicorn's are not installed; uvicorn re-raises a captured signal when it ends,
            which lands here instead of killing the process before the workers finish."""
            server.should_exit = True
            self.stop.set()

        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, request_stop)
        log.info("serving", extra={"url": self.url, "database": self.store.engine.url.render_as_string()})
        try:
            server.run()
        finally:
            self.stop.set()
            for worker in workers:
                worker.join(timeout=30)
            self.store.close()
            log.info("stopped")


def _first_admin(settings: Settings, accounts: Accounts) -> None:
    """On the first start without users, the admin from `alerts.admin_user` / `admin_password`."""
    alerts = settings.alerts
    if accounts.any_user():
        return
    if alerts.admin_password is None:
        log.warning(
            "no users: nobody can sign in; set FRAUDGUARD__ALERTS__ADMIN_PASSWORD or run "
            "`fraudguard alerts users add NAME --role admin`"
        )
        return
    accounts.add_user(alerts.admin_user, alerts.admin_password.get_secret_value(), Role.ADMIN)
    log.info("first admin created", extra={"user": alerts.admin_user})


def _session_secret(settings: Settings) -> str:
    """`alerts.session_secret`, else a random key kept (0600) in the runtime folder, so that sessions
    survive a restart. Several replicas of the service need the configured one."""
    if settings.alerts.session_secret is not None:
        return settings.alerts.session_secret.get_secret_value()
    key = RuntimePaths(settings.runtime_dir).session_key
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        with (
            contextlib.suppress(FileExistsError),
            os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out,
        ):
            out.write(secrets.token_urlsafe(48))
    return key.read_text().strip()


def _supervised(name: str, target: Callable[[threading.Event], None], stop: threading.Event) -> None:
    """Run `target` until `stop`; an unexpected error is logged and the worker restarted, never fatal."""
    while not stop.is_set():
        try:
            target(stop)
        except Exception:
            log.exception("worker failed; restarting it", extra={"worker": name, "wait_s": RESTART_WAIT_S})
            stop.wait(RESTART_WAIT_S)
