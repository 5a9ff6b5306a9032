"""Run every benchmark script and write one report: `report.json` (each script's JSON as printed) and
`report.md` (one table of every figure), the latter also into `docs/benchmarks.md`'s last section with
the date and the machine. What `make bench` runs.

.venv/bin/python benchmarks/report.py [--only kafka_broker simulator ...] [--out var/bench]

The scripts run one after another (they measure the machine: running two at once would skew both),
each with its defaults. Each script's output is kept in `OUT/logs/NAME.out` and `NAME.err`. With
`--only`, the named scripts' entries replace theirs in an existing report and the others are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("kafka_broker", "simulator", "simulator_signals", "feature_lift", "train_1m",
              "handbook_comparison", "anomaly_detection", "data_import", "stream_throughput", "alert_service",
              "airflow")  # fmt: skip
DOCS = HERE.parent / "docs" / "benchmarks.md"
SECTION = ("<!-- make bench: start -->", "<!-- make bench: end -->")


def first_json(text: str) -> Any:
    """The JSON object a script prints first (some follow it with a markdown table)."""
    return json.JSONDecoder().raw_decode(text[text.index("{") :])[0]


def leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every figure of a nested result, with its path (`stream.p99`)."""
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in leaves(item, f"{prefix}{key}.")]
    if isinstance(value, list):
        return [pair for index, item in enumerate(value) for pair in leaves(item, f"{prefix}{index}.")]
    return [(prefix.rstrip("."), value)]


def markdown(results: dict[str, dict]) -> str:
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for name, result in results.items():
        lines.append(f"| {name} | finished | {result.get('finished', '')} |")
        lines.append(f"| {name} | wall time (s) | {result['wall_s']} |")
        if "error" in result:
            lines.append(f"| {name} | **failed** | {result['error']} |")
            continue
        for path, value in leaves(result["result"]):
            lines.append(f"| {name} | {path} | {value} |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GB, {platform.platform()}, Python {platform.python_version()}"
    )


def with_report(page: str, report: str) -> str:
    """`page` with the text between its `SECTION` markers replaced by `report`."""
    start, end = page.find(SECTION[0]), page.find(SECTION[1])
    if start < 0 or end < start:
        raise ValueError(f"expected the markers {SECTION[0]!r} and {SECTION[1]!r} in that order")
    return page[: start + len(SECTION[0])] + "\n" + report.strip("\n") + "\n" + page[end:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="Run these only.")
    parser.add_argument("--out", type=Path, default=HERE.parent / "var" / "bench")
    parser.add_argument(
        "--docs", type=Path, default=DOCS, help="The page whose last section gets the report."
    )
    args = parser.parse_args()
    console = Console(stderr=True)
    saved = args.out / "report.json"
    kept = args.only and saved.exists()
    results: dict[str, dict] = json.loads(saved.read_text())["benchmarks"] if kept else {}
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        with console.status(f"benchmarks/{name}.py ..."):
            done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True)
        wall = round(time.perf_counter() - started, 1)
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        (logs / f"{name}.out").write_text(done.stdout)
        (logs / f"{name}.err").write_text(done.stderr)
        try:
            results[name] = {"finished": finished, "wall_s": wall, "result": first_json(done.stdout)}
            if done.returncode != 0:
                raise ValueError(f"exit code {done.returncode}")
            console.print(f"[green]✓[/] {name} ({wall} s)")
        except ValueError as error:
            tail = done.stderr.strip().splitlines()[-1:] or [""]
            reason = f"{error}: {tail[0][:200]} (see {logs / name}.err)"
            results[name] = {"finished": finished, "wall_s": wall, "error": reason}
            console.print(f"[red]✗[/] {name}: {results[name]['error']}")
    report = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "benchmarks": results}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    table = f"Written {report['created']} on {machine()}.\n\n" + markdown(results)
    (args.out / "report.md").write_text("# fraudguard benchmarks\n\n" + table)
    args.docs.write_text(with_report(args.docs.read_text(), table))
    console.print(f"report: {args.out / 'report.json'}, {args.out / 'report.md'} and {args.docs}")
    if any("error" in result for result in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
