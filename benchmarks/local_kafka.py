"""The benchmarks' local Kafka: a fresh single-node cluster in a scratch runtime folder, on free ports,
with the registry topics made, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fraudguard.config import Settings
from fraudguard.kafka.local_broker import control
from fraudguard.kafka.topics import ensure_topics

FREE_PORTS = {"FRAUDGUARD__LOCAL_BROKER__PORT": "0"}
"""Environment for a benchmark's settings: its broker never collides with a running platform's."""


@contextmanager
def local_kafka(settings: Settings) -> Iterator[control.StartReport]:
    report = control.start(settings)
    try:
        failed = [f"{r.name}: {r.detail}" for r in ensure_topics(settings) if r.action == "failed"]
        if failed:
            raise RuntimeError("could not create topics: " + "; ".join(failed))
        yield report
    finally:
        control.stop(settings)
