"""The development broker's host process: owns the mock cluster, publishes its address, obeys control.

One broker per runtime folder, enforced with an exclusive lock held for the process's lifetime.
SIGTERM and SIGINT stop it gracefully: the state file is removed and the listeners are closed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Listener
from typing import Any

import psutil

from fraudguard.config import Settings, TopicSettings
from fraudguard.kafka.devbroker.mock_cluster import MockCluster
from fraudguard.kafka.devbroker.state import BrokerState, running_broker
from fraudguard.paths import RuntimePaths

log = logging.getLogger("fraudguard.devbroker")
CONTROL_HOST = "127.0.0.1"


class BrokerAlreadyRunning(RuntimeError):
    def __init__(self, state: BrokerState | None) -> None:
        self.state = state
        where = f" at {state.bootstrap_servers} (pid {state.pid})" if state else ""
        super().__init__(f"a development broker is already running{where}")


def replication_for(topic: TopicSettings, brokers: int) -> int:
    """The configured factor, or for the cluster default (-1) as many replicas as brokers, max 3."""
    wanted = topic.replication_factor if topic.replication_factor > 0 else 3
    return min(wanted, brokers)


class DevBroker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = RuntimePaths(settings.runtime_dir)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_ready: Callable[[BrokerState], None] | None = None) -> None:
        """Serve until stop() or SIGTERM/SIGINT; `on_ready` is called once the address is published."""
        lock = self._take_lock()
        cluster = MockCluster(self.settings.dev_broker.brokers)
        listener: Listener | None = None
        try:
            for topic in self.settings.topics.all().values():
                cluster.create_topic(topic.name, topic.partitions, replication_for(topic, cluster.brokers))
            key = secrets.token_bytes(32)
            listener = Listener((CONTROL_HOST, 0), authkey=key)
            state = BrokerState(
                pid=os.getpid(),
                process_started=psutil.Process().create_time(),
                bootstrap_servers=cluster.bootstrap_servers,
                brokers=cluster.brokers,
                control_host=CONTROL_HOST,
                control_port=listener.address[1],
                control_key=key.hex(),
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            self._handle_signals()
            threading.Thread(target=self._serve_control, args=(listener, cluster), daemon=True).start()
            state.write(self.paths.broker_state)
            log.info(
                "development broker started",
                extra={"bootstrap": cluster.bootstrap_servers, "brokers": cluster.brokers},
            )
            if on_ready:
                on_ready(state)
            while not self._stop.wait(0.5):
                pass
        finally:
            self.paths.broker_state.unlink(missing_ok=True)
            if listener is not None:
                listener.close()
            cluster.close()
            lock.close()
            log.info("development broker stopped")

    def _take_lock(self) -> Any:
        lock_path = self.paths.broker_state.with_suffix(".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise BrokerAlreadyRunning(running_broker(self.paths.broker_state)) from None
        return handle

    def _handle_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self._stop.set())

    def _serve_control(self, listener: Listener, cluster: MockCluster) -> None:
        while not self._stop.is_set():
            try:
                connection = listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                log.warning("control connection refused", exc_info=True)
                continue
            with connection:
                self._answer(connection, cluster)

    def _answer(self, connection: Connection, cluster: MockCluster) -> None:
        try:
            request = connection.recv()
            op = request.get("op")
            if op == "ping":
                reply: dict[str, Any] = {"ok": True}
            elif op in ("broker_down", "broker_up"):
                broker_id = int(request["broker"])
                if not 1 <= broker_id <= cluster.brokers:
                    raise ValueError(f"broker id must be 1..{cluster.brokers}, got {broker_id}")
                if op == "broker_down":
                    cluster.set_broker_down(broker_id)
                else:
                    cluster.set_broker_up(broker_id)
                log.info("fault injection", extra={"op": op, "broker": broker_id})
                reply = {"ok": True}
            elif op == "create_topic":
                cluster.create_topic(request["name"], int(request["partitions"]), int(request["replication"]))
                log.info(
                    "topic created",
                    extra={"topic": request["name"], "partitions": request["partitions"]},
                )
                reply = {"ok": True}
            else:
                reply = {"ok": False, "error": f"unknown operation {op!r}"}
        except (EOFError, OSError):
            return
        except (KeyError, ValueError, TypeError, RuntimeError, AttributeError) as error:
            reply = {"ok": False, "error": str(error)}
        connection.send(reply)
