"""The scoring job under live traffic: sustained input rate, end-to-end alert latency, job memory.

A fresh runtime: the development broker, a champion trained on a small world (default pipeline, no
search), the job started as users start it (`fraudguard stream start --detach`, local[2]). One traffic
world goes on through every step (a new world per step would replay its users' ids from its first
day, backwards in time for the job's state). A warm-up at the first rate for `--warm-up` seconds,
unmeasured; then, for each rate, live traffic for `--seconds`, the job's lag sampled every second;
the backlog is drained before the next step. Lag = transactions published minus transactions scored.
A micro-batch takes time, so the lag is a saw-tooth even when the job keeps up: a rate is sustained
when the lag has no upward trend, i.e. the least-squares slope of the lag samples over the step is at
most 2% of the rate. Latency: the alert's produce timestamp minus its transaction's (from the scored
history), per step. Each step also reports the drain rate (the backlog at its end over the time the
job took to score it, the publisher idle) and the job's own account of its micro-batches meanwhile
(size, duration, seconds per scoring step).

    .venv/bin/python benchmarks/stream_throughput.py [--rates 1000 2500 5000] [--seconds 60]
        [--standalone-workers N]   # on a local Spark standalone cluster of N one-core workers
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from local_kafka import FREE_PORTS, local_kafka

from fraudguard.config import TopicRole, default_config_path, load_settings
from fraudguard.kafka.topics import read_topic
from fraudguard.schemas import ALERT
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.live import LivePublisher
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.spark_standalone import StandaloneCluster
from fraudguard.stream import control as stream_control
from fraudguard.train.job import Dataset, run_training

GROWTH_ALLOWED = 0.02
"""Of the input rate, as backlog growth per second: above any saw-tooth noise, below a real overload."""


class ContinuingWorld:
    """One timeline for several `LivePublisher.run` calls: the records once, then the days go on."""

    def __init__(self, timeline: FakerWorldTimeline) -> None:
        self.timeline, self._days, self._started = timeline, None, False

    def initial(self):
        users, merchants = self.timeline.initial()
        if self._started:
            return users.slice(0, 0), merchants.slice(0, 0)
        self._started = True
        return users, merchants

    def days(self):
        if self._days is None:
            self._days = self.timeline.days()
        return self._days


def job_rss(pid: int) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        for member in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
    return total


def alert_timestamps(settings) -> pd.Series:
    """Each alert's produce timestamp (ms), by transaction id."""
    messages = read_topic(settings, settings.topics.get(TopicRole.ALERTS).name, timeout_s=120)
    return pd.Series(
        {ALERT.decode(m.value())["transaction_id"]: m.timestamp()[1] for m in messages}, name="alert_ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warm-up", type=float, default=20, help="seconds of unmeasured traffic first")
    parser.add_argument("--users", type=int, default=20_000, help="users of each traffic world")
    parser.add_argument("--runtime", type=Path, help="keep the runtime (logs, history) here")
    parser.add_argument(
        "--standalone-workers", type=int, help="run on a standalone cluster of N 1-core workers"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runtime = args.runtime or Path(scratch)
        overrides = {
            "FRAUDGUARD__RUNTIME_DIR": str(runtime),
            "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
            "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
            **FREE_PORTS,
        }
        os.environ.update(overrides)  # the job's process inherits them
        config = default_config_path()
        settings = load_settings(config)
        with local_kafka(settings), standalone(settings, runtime, args.standalone_workers) as settings:
            try:
                steps, peak_rss_mb = run(settings, config, runtime, args)
            finally:
                stream_control.stop(settings)
    print(
        json.dumps(
            {
                "benchmark": "stream_throughput",
                "master": settings.spark.master,
                "steps": steps,
                "job_peak_rss_mb": peak_rss_mb,
            },
            indent=2,
        )
    )


@contextlib.contextmanager
def standalone(settings, runtime: Path, workers: int | None):
    """Settings whose Spark master is a local standalone cluster of `workers` one-core workers (the
    job's process inherits it through the environment); unchanged without `workers`."""
    if not workers:
        yield settings
        return
    cluster = StandaloneCluster.on_free_ports(runtime / "spark-cluster", workers=workers)
    try:
        os.environ["FRAUDGUARD__SPARK__MASTER"] = cluster.start(settings)
        yield load_settings(default_config_path())
    finally:
        cluster.stop()


def traffic(settings, world: ContinuingWorld, rate: float, seconds: float) -> dict:
    """Publish at `rate` for `seconds`, sampling the job's lag every second; then wait for the backlog
    to drain."""
    publisher, samples, batches = LivePublisher(settings), [], {}
    before = stream_control.scored_total(settings)

    def lag(published: int) -> int:
        last = stream_control.status(settings).progress.last_batch
        if last:
            batches[last.batch_id] = asdict(last)
        return published - (stream_control.scored_total(settings) - before)

    def sample(report) -> None:
        if not samples or time.monotonic() - samples[-1][0] >= 1.0:
            samples.append((time.monotonic(), lag(report.transactions)))

    started = time.monotonic()
    report = publisher.run(world, rate=rate, duration_s=seconds, on_progress=sample)
    last_ms = time.time() * 1000
    end_lag = lag(report.transactions)
    drained_at = time.monotonic()
    while lag(report.transactions) > 0 and time.monotonic() - drained_at < 300:
        time.sleep(0.5)
    middle = started + seconds / 2
    times, lags = np.array(samples, dtype=float).reshape(-1, 2).T
    growth = float(np.polyfit(times - started, lags, 1)[0]) if len(samples) > 1 else 0.0
    first_half = max((lag for at, lag in samples if at < middle), default=0)
    second_half = max((lag for at, lag in samples if at >= middle), default=0)
    return {
        "target_rate": rate,
        "achieved_input_rate": round(report.achieved_rate, 1),
        "transactions": report.transactions,
        "max_lag_first_half": first_half,
        "max_lag_second_half": second_half,
        "lag_at_end": end_lag,
        "drain_s": round(time.monotonic() - drained_at, 1),
        "lag_growth_per_s": round(growth, 1),
        "sustained": growth <= GROWTH_ALLOWED * rate,
        "drain_rate": round(end_lag / max(time.monotonic() - drained_at, 1e-9), 1),
        "micro_batches": batch_figures(list(batches.values())),
        "last_ms": last_ms,
    }


def batch_figures(reports: list[dict]) -> dict:
    """The job's own account of the micro-batches seen during a step: their size, how long they took,
    and the median seconds per step of `MicroBatchScorer` (the per-user state work is in "input")."""
    reports = [report for report in reports if report["transactions"]]
    if not reports:
        return {"seen": 0}
    steps = pd.DataFrame([report["steps_s"] for report in reports])
    return {
        "seen": len(reports),
        "median_transactions": float(np.median([report["transactions"] for report in reports])),
        "median_duration_s": round(float(np.median([report["duration_s"] for report in reports])), 2),
        "scoring_rate": round(
            sum(r["transactions"] for r in reports) / sum(r["duration_s"] for r in reports), 1
        ),
        "median_steps_s": {name: round(float(value), 2) for name, value in steps.median().items()},
    }


def run(settings, config, runtime: Path, args) -> tuple[list[dict], int]:
    """The steps' figures and the job's peak RSS in MB (driver, JVM and Python workers)."""
    training_world = settings.simulator.model_copy(update={"users": 1000, "merchants": 200, "days": 20})
    write_batch(FakerWorldTimeline(training_world), runtime / "training", settings_json={})
    spark = spark_session(settings, "bench-train")
    run_training(spark, settings, Dataset(runtime / "training"))
    spark.stop()

    stream_control.start_detached(settings, str(config))
    pid = stream_control.status(settings).progress.pid
    world = ContinuingWorld(
        FakerWorldTimeline(
            settings.simulator.model_copy(
                update={"users": args.users, "merchants": args.users // 5, "seed": 1000, "days": 365}
            )
        )
    )
    if args.warm_up:
        traffic(settings, world, args.rates[0], args.warm_up)
    steps, windows, peak_rss = [], [], 0
    for rate in args.rates:
        first_ms = time.time() * 1000
        step = traffic(settings, world, rate, args.seconds)
        windows.append((first_ms, step.pop("last_ms")))
        peak_rss = max(peak_rss, job_rss(pid))
        steps.append(step)
    history = pd.read_parquet(settings.stream.scored_history_dir, columns=["transaction_id", "kafka_ts"])
    joined = history.set_index("transaction_id").join(alert_timestamps(settings), how="inner")
    sent_ms = (pd.to_datetime(joined["kafka_ts"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(
        1, "ms"
    )
    joined["latency_s"] = (joined["alert_ms"] - sent_ms) / 1000
    for step, (first_ms, last_ms) in zip(steps, windows, strict=True):
        latency = joined.loc[(sent_ms >= first_ms) & (sent_ms <= last_ms), "latency_s"].to_numpy()
        step["alerts"] = len(latency)
        step["alert_latency_s"] = (
            {f"p{q}": round(float(np.percentile(latency, q)), 3) for q in (50, 95, 99)}
            if len(latency)
            else None
        )
    return steps, round(peak_rss / 2**20)


if __name__ == "__main__":
    main()
