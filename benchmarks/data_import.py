"""Bring your own data at PaySim's size: a PaySim-format CSV of 6.3 M rows (made up, the real file's
shape), imported with `fraudguard data import paysim` (rows/s, peak memory), then `fraudguard train
--dataset` on it (wall time, peak memory with Spark's JVM, local[2]), each in its own process as a user
runs them.

    .venv/bin/python benchmarks/data_import.py [--rows 6362620] [--skip-train]   -> JSON
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

from fraudguard.data.samples import paysim_csv
from fraudguard.data.schema import DatasetSchema

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=PAYSIM_ROWS)
    parser.add_argument("--skip-train", action="store_true")
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
    print(json.dumps({"data_import": result}, indent=2))


if __name__ == "__main__":
    main()
