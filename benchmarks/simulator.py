"""Simulator figures: batch generation of ~1,000,000 transactions and live publishing at 20,000/s.

    .venv/bin/python benchmarks/simulator.py [--transactions 1000000] [--rate 20000] [--seconds 30]

Each mode runs in its own process so its peak memory (max RSS) is its own. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRANSACTIONS_PER_USER_DAY = 2.5  # mean of the users' daily rates (gamma(2, 1.25))


def batch(transactions: int, out: Path) -> dict:
    from fraudguard.config import load_settings
    from fraudguard.simulate.batch import write_batch
    from fraudguard.simulate.timeline import FakerWorldTimeline

    days = 20
    users = int(transactions / (TRANSACTIONS_PER_USER_DAY * days))
    settings = load_settings().simulator.model_copy(
        update={"users": users, "merchants": users // 5, "days": days}
    )
    started = time.perf_counter()
    summary = write_batch(FakerWorldTimeline(settings), out, settings_json={})
    elapsed = time.perf_counter() - started
    return {
        "transactions": summary.transactions,
        "users": summary.users,
        "days": days,
        "seconds": round(elapsed, 2),
        "transactions_per_s": round(summary.transactions / elapsed),
        "target_seconds": 60,
        "dataset_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1),
    }


def live(rate: float, seconds: float, runtime: str) -> dict:
    from local_kafka import FREE_PORTS, local_kafka

    from fraudguard.config import load_settings
    from fraudguard.simulate.live import LivePublisher
    from fraudguard.simulate.timeline import FakerWorldTimeline

    settings = load_settings(environ={"FRAUDGUARD__RUNTIME_DIR": runtime, **FREE_PORTS})
    with local_kafka(settings):
        world = settings.simulator.model_copy(update={"days": 10**6, "seed": settings.simulator.seed + 1})
        report = LivePublisher(settings).run(FakerWorldTimeline(world), rate, seconds)
    return {
        "target_rate": rate,
        "achieved_rate": round(report.achieved_rate, 1),
        "within_5_percent": abs(report.achieved_rate - rate) <= 0.05 * rate,
        "seconds": round(report.elapsed_s, 2),
        "transactions": report.transactions,
        "generated": report.generated,
        "delivered": report.delivered,
        "failed": report.failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["batch", "live"])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if args.mode:
        with tempfile.TemporaryDirectory() as scratch:
            if args.mode == "batch":
                result = batch(args.transactions, Path(scratch) / "data")
            else:
                result = live(args.rate, args.seconds, scratch)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(result))
        return
    report = {"benchmark": "simulator"}
    for mode in ("batch", "live"):
        child = subprocess.run(
            [sys.executable, __file__, "--mode", mode, *sys.argv[1:]],
            capture_output=True,
            text=True,
            check=True,
        )
        report[mode] = json.loads(child.stdout.splitlines()[-1])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
