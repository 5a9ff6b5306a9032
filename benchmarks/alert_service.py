"""Alert service figures: alerts stored per second from a backlog, list-endpoint latency with the backlog
stored, a reviewer's actions (detail view with its context, review, bulk review, review queue, feedback)
with it, service RSS. Targets (#6): >= 5,000 alerts/s stored; the list endpoint's and review actions'
p99 reported.

.venv/bin/python benchmarks/alert_service.py [--alerts 100000] [--requests 400] [--history-rows 1000000]
  -> one JSON object

A fresh runtime folder and local Kafka; the backlog is published first and a scored history written
as the streaming job lays it out (every alert's transaction and `--history-rows` other transactions of
the same users, over the alerts' period and the week before, in micro-batches of 10,000 rows); then
`fraudguard alerts serve` starts as its own process with SQLite (the default store) and consumes it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from local_kafka import FREE_PORTS, local_kafka
from rich.progress import Progress

from fraudguard.config import TopicRole, default_config_path, load_settings
from fraudguard.kafka.clients import make_producer
from fraudguard.kafka.topics import describe_topics
from fraudguard.ports import free_ports
from fraudguard.schemas import ALERT

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests' samples
from tests.samples.alerts import sample_alerts
from tests.samples.history import history_row

ADMIN_PASSWORD = "benchmark-admin-password"
HISTORY_BATCH_ROWS = 10_000


def write_history(folder: Path, values: list[bytes], other_rows: int) -> dict:
    """The scored history behind the published alerts, partitioned by day and micro-batch, each batch
    sorted by time as the stream writes it."""
    started = time.perf_counter()
    alerted = [ALERT.decode(value) for value in values]
    alerts = len(alerted)
    rng = np.random.default_rng(1)
    first = min(a["event_time"] for a in alerted).timestamp() - 7 * 86_400
    last = max(a["event_time"] for a in alerted).timestamp()
    columns = {
        "transaction_id": [a["transaction_id"] for a in alerted] + [f"T{n:09d}" for n in range(other_rows)],
        "user_id": [a["user_id"] for a in alerted] + [f"U{u:06d}" for u in rng.integers(0, 5000, other_rows)],
        "merchant_id": [a["merchant_id"] for a in alerted]
        + [f"M{m:05d}" for m in rng.integers(0, 1000, other_rows)],
        "epoch_s": np.concatenate(
            [[a["event_time"].timestamp() for a in alerted], rng.uniform(first, last, other_rows)]
        ),
        "amount": np.concatenate(
            [[a["amount"] for a in alerted], rng.lognormal(3.5, 1.0, other_rows).round(2)]
        ),
        "score": np.concatenate([[a["score"] for a in alerted], rng.uniform(0, 0.5, other_rows)]),
        "alerted": np.concatenate([np.ones(alerts, bool), np.zeros(other_rows, bool)]),
    }
    order = np.argsort(columns["epoch_s"], kind="stable")
    table = pa.table({name: pa.array(np.asarray(values)[order]) for name, values in columns.items()})
    when = naive_utc(table["epoch_s"])
    table = table.drop_columns("epoch_s").append_column("timestamp", when)
    template = history_row("template", "template", datetime(2026, 1, 1))
    days = np.asarray(pc.strftime(when, "%Y-%m-%d"))
    files = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("writing the scored history", total=table.num_rows)
        for start in range(0, table.num_rows, HISTORY_BATCH_ROWS):
            batch = table.slice(start, HISTORY_BATCH_ROWS)
            for day in np.unique(days[start : start + batch.num_rows]):
                part = batch.filter(pa.array(days[start : start + batch.num_rows] == day))
                for name, value in template.items():
                    if name not in part.column_names:
                        part = part.append_column(name, pa.array([value] * part.num_rows))
                target = folder / f"day={day}" / f"batch=bench-{start // HISTORY_BATCH_ROWS:06d}"
                target.mkdir(parents=True)
                pq.write_table(part, target / "part-0.parquet")
                files += 1
            progress.update(task, completed=start + batch.num_rows)
    return {"rows": table.num_rows, "files": files, "days": len(np.unique(days)),
            "written_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def naive_utc(epoch_s: pa.ChunkedArray) -> pa.Array:
    """Seconds since the epoch as naive UTC microsecond timestamps, as Spark writes them."""
    return pa.array((np.asarray(epoch_s) * 1e6).astype("int64")).cast(pa.timestamp("us"))


def publish(settings, keys: list[str], values: list[bytes]) -> tuple[float, int]:
    count = len(keys)
    producer = make_producer(settings, **{"linger.ms": 20, "batch.num.messages": 10_000})
    topic = settings.topics.get(TopicRole.ALERTS).name
    started = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task("publishing the backlog", total=count)
        for number, (key, value) in enumerate(zip(keys, values, strict=True)):
            while True:
                try:
                    producer.produce(topic, value, key.encode())
                    break
                except BufferError:
                    producer.poll(0.05)
            if number % 5000 == 0:
                progress.update(task, completed=number)
        assert producer.flush(120) == 0
    return time.perf_counter() - started, sum(len(v) for v in values)


def kept_on_topic(settings) -> int:
    (alerts,) = describe_topics(settings, [settings.topics.get(TopicRole.ALERTS).name])
    return alerts.messages


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "p99_ms": round(cuts[98], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime:
        port = free_ports(1)[0]
        environ = {
            "FRAUDGUARD__RUNTIME_DIR": runtime,
            "FRAUDGUARD__ALERTS__PORT": str(port),
            "FRAUDGUARD__ALERTS__ADMIN_PASSWORD": ADMIN_PASSWORD,
            **FREE_PORTS,
        }
        config = default_config_path()
        settings = load_settings(config, environ=environ)
        with local_kafka(settings):
            keys, values = sample_alerts(args.alerts, seed=1)
            publish_s, payload_bytes = publish(settings, keys, values)
            kept = kept_on_topic(settings)
            history = write_history(settings.stream.scored_history_dir, values, args.history_rows)
            report = measure_service(settings, config, environ, port, kept, args.requests)
    report = {
        "benchmark": "alert_service",
        "alerts_published": args.alerts,
        "alerts_kept_by_broker": kept,
        "mean_alert_bytes": round(payload_bytes / args.alerts),
        "publish_s": round(publish_s, 1),
        "scored_history": history,
        **report,
    }
    print(json.dumps(report, indent=2))


def measure_service(settings, config: Path, environ: dict, port: int, backlog: int, requests: int) -> dict:
    log = Path(environ["FRAUDGUARD__RUNTIME_DIR"]) / "alerts.log"
    started = time.perf_counter()
    with log.open("ab") as log_file:
        service = subprocess.Popen(
            [sys.executable, "-m", "fraudguard", "--config", str(config), "alerts", "serve"],
            env={**os.environ, **environ},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    process = psutil.Process(service.pid)
    peak_rss = 0
    first_batch: float | None = None
    stored = 0
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("storing the backlog", total=backlog)
            while stored < backlog:
                if service.poll() is not None:
                    raise SystemExit(f"the service exited ({service.returncode}); see {log}")
                peak_rss = max(peak_rss, process.memory_info().rss)
                try:
                    consumer = api.get("/api/health").json()["consumer"]
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                stored = consumer["stored"]
                if stored and first_batch is None:
                    first_batch = time.perf_counter()
                progress.update(task, completed=stored)
                time.sleep(0.1)
        done = time.perf_counter()
        health = api.get("/api/health").json()["consumer"]
        storing_s = (
            datetime.fromisoformat(health["last_batch_at"]) - datetime.fromisoformat(health["started_at"])
        ).total_seconds()
        latencies = api_latencies(api, requests)
        reviewing = review_latencies(api, requests)
        peak_rss = max(peak_rss, process.memory_info().rss)
    finally:
        service.terminate()
        service.wait(timeout=60)
    return {
        "alerts_stored": stored,
        "store_rate_per_s": round(stored / (done - (first_batch or started)), 0),
        "store_rate_from_service_start_per_s": round(stored / storing_s, 0),
        "service_start_to_all_stored_s": round(done - started, 1),
        "list_endpoint": latencies,
        "review_actions": reviewing,
        "service_peak_rss_mb": round(peak_rss / 2**20, 1),
    }


def api_latencies(api: httpx.Client, requests: int) -> dict:
    """The list endpoint as the dashboard and a reviewer call it: newest page, filters, live paging."""
    newest = api.get("/api/alerts", params={"limit": 1}).json()["alerts"][0]
    users = [a["user_id"] for a in api.get("/api/alerts", params={"limit": 500}).json()["alerts"]]
    scored = datetime.fromisoformat(newest["scored_at"])
    shapes = {
        "newest_100": lambda: {"limit": 100},
        "min_score_0.95": lambda: {"min_score": 0.95, "limit": 100},
        "one_user": lambda: {"user_id": random.choice(users)},
        "last_10_minutes": lambda: {"since": (scored - timedelta(minutes=10)).isoformat(), "limit": 200},
        "live_after_id": lambda: {"after_id": newest["id"] - 50, "limit": 1000},
    }
    timings: dict[str, list[float]] = {name: [] for name in shapes}
    for number in range(requests):
        name = list(shapes)[number % len(shapes)]
        started = time.perf_counter()
        response = api.get("/api/alerts", params=shapes[name]())
        timings[name].append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    every = [t for samples in timings.values() for t in samples]
    return {
        "requests": requests,
        **percentiles(every),
        "by_query": {k: percentiles(v) for k, v in timings.items()},
    }


def review_latencies(api: httpx.Client, requests: int) -> dict:
    """A reviewer's actions, signed in as the first admin (session cookie and CSRF header): open an
    alert (the alert, its audit trail and its context from the scored history, one after another;
    the dashboard asks for the three at once), review it naming its version, review 50 at once, load the
    queue unreviewed first, read the feedback figures."""
    api.get("/")  # the CSRF cookie
    csrf = {"X-CSRF-Token": api.cookies["fraudguard_csrf"]}
    signing_in = {"username": "admin", "password": ADMIN_PASSWORD}
    api.post("/api/sign-in", json=signing_in, headers=csrf).raise_for_status()
    ids = [a["transaction_id"] for a in api.get("/api/alerts", params={"limit": 1000}).json()["alerts"]]
    statuses = ("reviewing", "confirmed_fraud", "false_positive")
    timings: dict[str, list[float]] = {}
    contexts: list[int] = []  # recent transactions shown per context found

    def timed(action: str, *calls: tuple[str, str, dict]) -> list[httpx.Response]:
        """The requests (method, path, options) one after another, timed together as one action."""
        started = time.perf_counter()
        responses = [api.request(method, path, **options) for method, path, options in calls]
        timings.setdefault(action, []).append((time.perf_counter() - started) * 1000)
        for response in responses:
            response.raise_for_status()
        return responses

    with Progress(transient=True) as progress:
        task = progress.add_task("reviewing", total=requests)
        for number in range(requests):
            path = f"/api/alerts/{ids[number % len(ids)]}"
            shown, _, context = timed(
                "detail", ("GET", path, {}), ("GET", f"{path}/audit", {}), ("GET", f"{path}/context", {})
            )
            alert = shown.json()
            found = context.json()
            if found["transaction"]:
                contexts.append(len(found["recent"]))
            change = {
                "status": statuses[number % 3],
                "note": f"benchmark {number}",
                "version": alert["version"],
            }
            timed("review", ("PATCH", path, {"json": change, "headers": csrf}))
            if number % 10 == 0:
                bulk = {
                    "alerts": [{"transaction_id": i} for i in random.sample(ids, 50)],
                    "status": "reviewing",
                }
                timed("bulk_50", ("POST", "/api/alerts/review", {"json": bulk, "headers": csrf}))
                queue = {"params": {"unreviewed_first": True, "limit": 200}}
                timed("queue_unreviewed_first", ("GET", "/api/alerts", queue))
                timed("feedback", ("GET", "/api/feedback", {}))
            progress.update(task, completed=number + 1)
    return {
        "reviews": requests,
        "contexts_found": len(contexts),
        "mean_recent_transactions_shown": round(statistics.fmean(contexts), 1) if contexts else None,
        "by_action": {k: percentiles(v) for k, v in timings.items()},
    }


if __name__ == "__main__":
    main()
