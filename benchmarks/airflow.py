"""Airflow figures (#7): wall time of the training DAG on its default data size, and local Airflow's
memory (PSS) at rest.

.venv/bin/python benchmarks/airflow.py [--skip-training] [--rest-s 60]   -> one JSON object

A fresh runtime folder each time. The training DAG runs with `airflow dags test` (dag.test(), every task
in one process) on the configured defaults: a 30-day window of the 5,000-user world, the default learner
with its 300 s search budget, a local Kafka of its own (the labels topic is read, empty here), no stream
running (so its restart is skipped) and no champion (so it promotes).
Memory: `fraudguard airflow start`, `--rest-s` seconds idle, then the PSS of every Airflow process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from local_kafka import FREE_PORTS, local_kafka

from fraudguard.config import default_config_path, load_settings
from fraudguard.orchestration.local_airflow import LocalAirflow
from fraudguard.ports import free_ports


def training_dag(runtime: Path) -> dict:
    os.environ.update(FREE_PORTS)
    os.environ["FRAUDGUARD__RUNTIME_DIR"] = str(runtime)
    os.environ["FRAUDGUARD__MODEL__EXPORT_DIR"] = str(runtime / "models")
    settings = load_settings()
    local = LocalAirflow(settings, default_config_path())
    local.migrate()
    logical_date = (datetime.now(UTC) - timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    log = runtime / "dags-test.log"
    with local_kafka(settings), log.open("w") as out:  # the DAG reads the labels topic
        started = time.perf_counter()
        done = subprocess.run(local.command("dags", "test", "fraud_model_training", logical_date.isoformat()),
                              env=local.environment(), stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the training DAG failed; see {log}")
    run = max(local.cli_json("dags", "list-runs", "fraud_model_training"), key=lambda r: r["run_after"])
    tasks = local.cli_json("tasks", "states-for-dag-run", "fraud_model_training", run["run_id"])

    def took(task: dict) -> float:
        return (
            datetime.fromisoformat(task["end_date"]) - datetime.fromisoformat(task["start_date"])
        ).total_seconds()

    seconds = {t["task_id"]: round(took(t), 1) for t in tasks if t["start_date"] and t["end_date"]}
    manifest = json.loads(next(runtime.glob("training/*/training_set/manifest.json")).read_text())
    return {
        "wall_s": round(wall, 1),
        "task_s": seconds,
        "states": {t["task_id"]: t["state"] for t in tasks},
        "training_set": manifest["summary"],
        "log": str(log),
    }


def airflow_at_rest(runtime: Path, rest_s: float) -> dict:
    os.environ["FRAUDGUARD__RUNTIME_DIR"] = str(runtime)
    os.environ["FRAUDGUARD__AIRFLOW__PORT"] = str(free_ports(1)[0])
    settings = load_settings()
    local = LocalAirflow(settings, default_config_path())
    started = time.perf_counter()
    local.start()
    ready = time.perf_counter() - started
    time.sleep(rest_s)
    per_component = {}
    for name, pid in local.running().items():
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
        per_component[name] = {
            "processes": len(members),
            "pss_mb": round(sum(p.memory_full_info().pss for p in members) / 2**20),
        }
    local.stop()
    return {
        "start_to_healthy_s": round(ready, 1),
        "rest_s": rest_s,
        "parallelism": settings.airflow.parallelism,
        "pss_mb_total": sum(c["pss_mb"] for c in per_component.values()),
        "components": per_component,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--rest-s", type=float, default=60.0)
    args = parser.parse_args()
    result = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="fraudguard-airflow-bench-") as folder:
        result["airflow_at_rest"] = airflow_at_rest(Path(folder) / "rest", args.rest_s)
    if not args.skip_training:
        folder = Path(tempfile.mkdtemp(prefix="fraudguard-training-dag-bench-"))
        result["training_dag"] = training_dag(folder)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
