"""Start, stop, ask and steer the development broker from any other process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from multiprocessing.connection import Client
from typing import Any

import psutil

from fraudguard.config import Settings, TopicSettings
from fraudguard.kafka.devbroker.server import replication_for
from fraudguard.kafka.devbroker.state import BrokerState, running_broker
from fraudguard.paths import RuntimePaths


class BrokerError(RuntimeError):
    pass


def start_detached(settings: Settings) -> tuple[BrokerState, bool]:
    """Start the broker as its own process (own session, survives this one).

    Returns the live broker's state and whether this call started it (False: one already ran).
    """
    paths = RuntimePaths(settings.runtime_dir)
    existing = running_broker(paths.broker_state)
    if existing:
        return existing, False
    paths.logs.mkdir(parents=True, exist_ok=True)
    with paths.broker_log.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "fraudguard.kafka.devbroker"],
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with process.stdin:
        process.stdin.write(settings.model_dump_json().encode())
    deadline = time.monotonic() + settings.dev_broker.start_timeout_s
    while time.monotonic() < deadline:
        state = running_broker(paths.broker_state)
        if state is not None:
            return state, state.pid == process.pid
        if process.poll() is not None:
            raise BrokerError(
                f"the development broker exited with code {process.returncode} while starting; "
                f"see {paths.broker_log}"
            )
        time.sleep(0.05)
    process.kill()
    raise BrokerError(
        f"the development broker did not publish its address within "
        f"{settings.dev_broker.start_timeout_s:g} s; see {paths.broker_log}"
    )


def stop(settings: Settings, timeout_s: float = 15.0) -> BrokerState | None:
    """Stop the running broker gracefully (SIGTERM), forcefully after `timeout_s`; None if none ran."""
    paths = RuntimePaths(settings.runtime_dir)
    state = running_broker(paths.broker_state)
    if state is None:
        return None
    try:
        process = psutil.Process(state.pid)
        process.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs([process], timeout=timeout_s)
        for leftover in alive:
            leftover.kill()
    except psutil.NoSuchProcess:
        pass
    deadline = time.monotonic() + timeout_s
    while state.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    paths.broker_state.unlink(missing_ok=True)
    return state


def request(settings: Settings, op: str, **arguments: Any) -> dict[str, Any]:
    """Send one control request to the running broker; raise BrokerError on any failure."""
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    if state is None:
        raise BrokerError("the development broker is not running")
    with Client(
        (state.control_host, state.control_port), authkey=bytes.fromhex(state.control_key)
    ) as connection:
        connection.send({"op": op, **arguments})
        reply = connection.recv()
    if not reply.get("ok"):
        raise BrokerError(f"{op}: {reply.get('error')}")
    return reply


def set_broker_down(settings: Settings, broker_id: int) -> None:
    request(settings, "broker_down", broker=broker_id)


def set_broker_up(settings: Settings, broker_id: int) -> None:
    request(settings, "broker_up", broker=broker_id)


def create_topics(settings: Settings, topics: list[TopicSettings]) -> dict[str, str | None]:
    """The development broker's stand-in for the CreateTopics Admin API it does not implement."""
    state = running_broker(RuntimePaths(settings.runtime_dir).broker_state)
    brokers = state.brokers if state else settings.dev_broker.brokers
    results: dict[str, str | None] = {}
    for topic in topics:
        try:
            request(
                settings,
                "create_topic",
                name=topic.name,
                partitions=topic.partitions,
                replication=replication_for(topic, brokers),
            )
            results[topic.name] = None
        except BrokerError as error:
            results[topic.name] = str(error)
    return results
