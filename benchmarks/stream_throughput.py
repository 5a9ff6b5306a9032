"""The scoring job under live traffic: sustained input rate, end-to-end alert latency, job memory.

A fresh runtime: the development broker, a champion trained on a small world (default pipeline, no
search), the job started as users start it (`fraudguard stream start --detach`, local[2]). Then, for
each rate, live traffic from a new world for `--seconds`; the job's lag is sampled every second, and
after the step the backlog must drain. Lag = transactions published minus transactions scored. A rate
is sustained when the backlog left at the end of the step drains within 5 seconds. Latency: the
alert's produce timestamp minus its transaction's (from the scored history), per step.

    .venv/bin/python benchmarks/stream_throughput.py [--rates 1000 2500 5000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from fraudguard.config import TopicRole, default_config_path, load_settings
from fraudguard.kafka.clients import make_consumer
from fraudguard.kafka.devbroker import control as broker_control
from fraudguard.schemas import ALERT
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.live import LivePublisher
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.stream import control as stream_control
from fraudguard.train.job import Dataset, run_training

SUSTAINED_BACKLOG_S = 5.0


def job_rss(pid: int) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        for member in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
    return total


def scored(settings) -> int:
    """Transactions the job has scored so far (its totals survive restarts)."""
    current = stream_control.status(settings)
    return ((current.progress if current else {}).get("totals") or {}).get("transactions", 0)


def alert_timestamps(settings) -> pd.Series:
    topic = settings.topics.get(TopicRole.ALERTS)
    consumer = make_consumer(settings, group_id="bench-alerts")
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1]
            for p in range(topic.partitions)}  # fmt: skip
    consumer.assign([TopicPartition(topic.name, p, OFFSET_BEGINNING) for p in range(topic.partitions)])
    produced, position = {}, dict.fromkeys(ends, 0)
    deadline = time.monotonic() + 120
    while any(position[p] < ends[p] for p in ends) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        produced[ALERT.decode(message.value())["transaction_id"]] = message.timestamp()[1]
        position[message.partition()] = message.offset() + 1
    consumer.close()
    return pd.Series(produced, name="alert_ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=20_000, help="users of each traffic world")
    parser.add_argument("--runtime", type=Path, help="keep the runtime (logs, history) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runtime = args.runtime or Path(scratch)
        overrides = {
            "FRAUDGUARD__RUNTIME_DIR": str(runtime),
            "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
            "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
        }
        os.environ.update(overrides)  # the job's process inherits them
        config = default_config_path()
        settings = load_settings(config)
        broker_control.start_detached(settings)
        broker_control.create_topics(settings, list(settings.topics.all().values()))
        try:
            steps, peak_rss_mb = run(settings, config, runtime, args)
        finally:
            stream_control.stop(settings)
            broker_control.stop(settings)
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


def run(settings, config, runtime: Path, args) -> tuple[list[dict], int]:
    """The steps' figures and the job's peak RSS in MB (driver, JVM and Python workers)."""
    training_world = settings.simulator.model_copy(update={"users": 1000, "merchants": 200, "days": 20})
    write_batch(FakerWorldTimeline(training_world), runtime / "training", settings_json={})
    spark = spark_session(settings, "bench-train")
    run_training(spark, settings, Dataset(runtime / "training"))
    spark.stop()

    stream_control.start_detached(settings, str(config))
    pid = stream_control.status(settings).progress["pid"]
    steps, windows, peak_rss = [], [], 0
    for index, rate in enumerate(args.rates):
        world = settings.simulator.model_copy(
            update={"users": args.users, "merchants": args.users // 5, "seed": 1000 + index, "days": 60}
        )
        publisher, samples = LivePublisher(settings), []

        before = scored(settings)

        def sample(report, samples=samples, before=before) -> None:
            if not samples or time.monotonic() - samples[-1][0] >= 1.0:
                samples.append((time.monotonic(), report.transactions - (scored(settings) - before)))

        windows.append((time.time() * 1000, 0.0))
        report = publisher.run(
            FakerWorldTimeline(world), rate=rate, duration_s=args.seconds, on_progress=sample
        )
        windows[-1] = (windows[-1][0], time.time() * 1000)
        end_lag = report.transactions - (scored(settings) - before)
        peak_rss = max(peak_rss, job_rss(pid))
        drained_at = time.monotonic()
        while scored(settings) - before < report.transactions and time.monotonic() - drained_at < 300:
            time.sleep(0.5)
        steps.append(
            {
                "target_rate": rate,
                "achieved_input_rate": round(report.achieved_rate, 1),
                "transactions": report.transactions,
                "lag_at_end": end_lag,
                "max_lag": max((s[1] for s in samples), default=0),
                "drain_s": round(time.monotonic() - drained_at, 1),
                "sustained": time.monotonic() - drained_at < SUSTAINED_BACKLOG_S,
            }
        )
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
