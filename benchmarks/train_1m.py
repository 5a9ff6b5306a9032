"""End-to-end `train` on ~1,000,000 transactions: features, fit (with the configured search budget),
evaluation, MLflow registration and the promotion gate, on this machine. Target: under 10 minutes.

    .venv/bin/python benchmarks/train_1m.py [--transactions 1000000]   -> one JSON object

Peak memory is sampled every 0.5 s over this process and its children (the Spark JVM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

from fraudguard.config import load_settings
from fraudguard.simulate.batch import write_batch
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.spark import spark_session
from fraudguard.train.job import Dataset, run_training

DAYS = 30
TRANSACTIONS_PER_USER_DAY = 2.5


class PeakMemory(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._stop = 0, threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            processes = [me, *me.children(recursive=True)]
            total = 0
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        return self.peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=1_000_000)
    args = parser.parse_args()
    users = int(args.transactions / (TRANSACTIONS_PER_USER_DAY * DAYS))
    memory = PeakMemory()
    memory.start()
    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(environ={"FRAUDGUARD__RUNTIME_DIR": scratch})
        settings = settings.model_copy(
            update={"model": settings.model.model_copy(update={"export_dir": Path(scratch) / "models"})}
        )
        world = settings.simulator.model_copy(update={"users": users, "merchants": users // 5, "days": DAYS})
        started = time.perf_counter()
        summary = write_batch(FakerWorldTimeline(world), Path(scratch) / "data", settings_json={})
        generated = time.perf_counter()
        spark = spark_session(settings, "train-1m")
        spark_ready = time.perf_counter()
        steps: dict[str, float] = {}

        def step(name: str) -> None:
            steps[name] = round(time.perf_counter() - spark_ready, 1)

        outcome = run_training(spark, settings, Dataset(Path(scratch) / "data"), on_step=step)
        finished = time.perf_counter()
        spark.stop()
    print(
        json.dumps(
            {
                "benchmark": "train_1m",
                "transactions": summary.transactions,
                "generate_s": round(generated - started, 1),
                "spark_start_s": round(spark_ready - generated, 1),
                "train_end_to_end_s": round(finished - spark_ready, 1),
                "target_s": 600,
                "steps_at_s": steps,
                "search": outcome.result.search,
                "test_auc_pr": round(outcome.result.test_metrics["auc_pr"], 4),
                "test_card_precision_at_100": round(outcome.result.test_metrics["card_precision_at_100"], 4),
                "registered_version": outcome.version,
                "promoted": outcome.decision.promoted,
                "peak_rss_mb_driver_and_jvm": round(memory.stop() / 2**20),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
