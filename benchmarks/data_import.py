"""Bring your own data at PaySim's size: a PaySim-format CSV of 6.3 M rows (made up, the real file's
shape), imported with `fraudguard data import paysim` (rows/s, peak memory), then `fraudguard train
--dataset` on it (wall time, peak memory with Spark's JVM, local[2]), each in its own process as a user
runs them. Then, on a local Kafka: the dataset replayed as fast as it goes (`data replay`), and
scored by its own stream job (`stream start --dataset paysim --available-now`, with
`--max-rows-per-batch` rows per micro-batch), wall time including Spark's start and the model's load.

    .venv/bin/python benchmarks/data_import.py [--rows 6362620] [--skip-train] [--skip-stream]
        [--max-rows-per-batch 200000]   -> JSON
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from local_kafka import FREE_PORTS, local_kafka

from fraudguard.config import default_config_path, load_settings
from fraudguard.data.replay import dataset_replay
from fraudguard.data.schema import DatasetSchema
from fraudguard.stream import control

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' samples
from tests.samples.datasets import paysim_csv

PAYSIM_ROWS = 6_362_620


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the peak resident memory (MB) of `command` with its child processes (Spark's
    JVM), sampled every 50 ms until it ends."""
    started = time.perf_counter()
    process = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in tree))
        time.sleep(0.05)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return time.perf_counter() - started, peak / 2**20


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.resolve().rglob("*") if path.is_file())


def replayed_and_scored(env: dict[str, str], fraudguard: list[str], batch_rows: int) -> dict[str, float]:
    """The dataset published to its topic at full speed, then scored by its stream job."""
    env = {**env, **FREE_PORTS, "FRAUDGUARD__STREAM__MAX_ROWS_PER_BATCH": str(batch_rows)}
    settings = load_settings(default_config_path(), environ=env)
    with local_kafka(settings):
        publisher, timeline = dataset_replay(settings, "paysim")
        started = time.perf_counter()
        report = publisher.run(timeline, 1e9, None)
        replay_s = time.perf_counter() - started
        stream_s, stream_peak_mb = timed([*fraudguard, "stream", "start", "--dataset", "paysim",
                                          "--available-now"], env)  # fmt: skip
        totals = control.status(control.for_dataset(settings, "paysim")).progress.totals
    return {
        "replay_s": round(replay_s, 1),
        "replay_rows_per_s": round(report.transactions / replay_s),
        "stream_max_rows_per_batch": batch_rows,
        "stream_s": round(stream_s, 1),
        "stream_rows_per_s": round(totals.transactions / stream_s),
        "stream_peak_rss_mb": round(stream_peak_mb),
        "stream_scored": totals["transactions"],
        "stream_alerts": totals["alerts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=PAYSIM_ROWS)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-stream", action="store_true", help="no replay and scoring (needs training)")
    parser.add_argument("--max-rows-per-batch", type=int, default=200_000,
                        help="the stream's admission cap (larger: a backlog goes faster)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runtime = Path(scratch) / "runtime"
        env = {
            **os.environ,
            "FRAUDGUARD__RUNTIME_DIR": str(runtime),
            "FRAUDGUARD__MODEL__SEARCH_BUDGET_S": "0",
            "FRAUDGUARD__MODEL__EXPORT_DIR": str(runtime / "models"),
        }
        started = time.perf_counter()
        source = paysim_csv(Path(scratch) / "paysim.csv", args.rows)
        generated_s = time.perf_counter() - started
        fraudguard = [sys.executable, "-m", "fraudguard"]
        import_s, import_peak_mb = timed([*fraudguard, "data", "import", "paysim", str(source)], env)
        schema = DatasetSchema.load(runtime / "datasets" / "paysim")
        result = {
            "rows": schema.rows,
            "frauds": schema.frauds,
            "csv_mb": round(source.stat().st_size / 2**20, 1),
            "generate_s": round(generated_s, 1),
            "import_s": round(import_s, 1),
            "import_rows_per_s": round(schema.rows / import_s),
            "import_peak_rss_mb": round(import_peak_mb),
            "dataset_mb": round(folder_bytes(runtime / "datasets" / "paysim") / 2**20, 1),
        }  # fmt: skip
        if not args.skip_train:
            train_s, train_peak_mb = timed([*fraudguard, "train", "--dataset", "paysim"], env)
            result |= {"train_s": round(train_s, 1), "train_peak_rss_mb": round(train_peak_mb)}
            if not args.skip_stream:
                result |= replayed_and_scored(env, fraudguard, args.max_rows_per_batch)
    print(json.dumps({"data_import": result}, indent=2))


if __name__ == "__main__":
    main()
