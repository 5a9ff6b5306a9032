"""Live traffic as a DAG task (`fraud_traffic_simulation`): the Faker world published for a while."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from fraudguard.config import Settings
from fraudguard.kafka.topics import ensure_topics
from fraudguard.simulate.live import LivePublisher, LiveReport, live_world
from fraudguard.simulate.timeline import FakerWorldTimeline

log = logging.getLogger("fraudguard.traffic")
PROGRESS_LOG_S = 10.0


def publish_traffic(
    settings: Settings,
    rate: float,
    duration_s: float,
    fraud_rate: float | None = None,
    scenario_mix: dict[str, float] | None = None,
    users: int | None = None,
) -> dict[str, Any]:
    """Publish at `rate` transactions/s for `duration_s`; a status line every few seconds; the report.
    An invalid choice (e.g. shares not summing to 1) raises before anything is sent."""
    world = live_world(settings.simulator, fraud_rate=fraud_rate, scenario_mix=scenario_mix, users=users)
    failed_topics = [
        f"{report.name}: {report.detail}" for report in ensure_topics(settings) if report.action == "failed"
    ]
    if failed_topics:
        raise RuntimeError(f"could not create the topics: {'; '.join(failed_topics)}")
    publisher = LivePublisher(settings)
    next_log = time.monotonic() + PROGRESS_LOG_S

    def progress(report: LiveReport) -> None:
        nonlocal next_log
        if time.monotonic() >= next_log:
            next_log += PROGRESS_LOG_S
            rates = {"rate": round(report.achieved_rate, 1), "target": rate}
            log.info("publishing", extra={"transactions": report.transactions, **rates})

    report = publisher.run(FakerWorldTimeline(world), rate, duration_s, on_progress=progress)
    failed = sum(report.failed.values())
    summary = {**asdict(report), "achieved_rate": round(report.achieved_rate, 1), "failed_total": failed}
    log.info("traffic done", extra={k: v for k, v in summary.items() if not isinstance(v, dict)})
    if failed:
        raise RuntimeError(f"{failed:,} records were not acknowledged by Kafka: {report.failed}")
    return summary
