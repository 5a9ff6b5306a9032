"""The main job: start every part, publish live traffic, show one live status view, stop everything.

A part that fails to start is reported with its log, and what was started is stopped again. The
end-of-run summary compares the alerts with the simulator's ground truth for the traffic of this run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.live import Live
from rich.table import Table

from fraudguard.alerts import control as alerts
from fraudguard.config import Settings
from fraudguard.platform.components import TRAFFIC_STAGE, Part, Stage, Started, parts
from fraudguard.platform.latency import AlertLatency
from fraudguard.platform.summary import detection_quality
from fraudguard.simulate.live import LivePublisher, live_world
from fraudguard.simulate.timeline import FakerWorldTimeline
from fraudguard.stream import control as stream
from fraudguard.stream.progress import QueryProgress, Totals

DRAIN_STALL_S = 60.0  # at the end, the stream scores what was published unless idle this long
FIRST_ALERT_WAIT_S = 180.0  # the rest starts once the first alert is stored, or after this long
WARM_UP_RATE = 10.0
"""Transactions per second until the first alert: the stream's first micro-batches pay for starting
Spark's tasks and Python workers, so they are kept small; then the traffic runs at its full rate."""


class StartFailed(RuntimeError):
    pass


def _timed_start(part: Part) -> tuple[Started | Exception, float]:
    began = time.monotonic()
    try:
        outcome: Started | Exception = part.start()
    except Exception as error:
        outcome = error
    return outcome, time.monotonic() - began


@dataclass
class PlatformRun:
    settings: Settings
    config_path: Path
    console: Console
    rate: float | None = None
    began: float = field(default_factory=lambda: psutil.Process().create_time())
    started: list[Part] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    services: list[Part] = field(default_factory=list)
    first_alert_s: float | None = None
    components: list[Part] = field(init=False)

    def __post_init__(self) -> None:
        self.components = parts(self.settings, self.config_path)  # one set: a launch and its wait share state

    def start(self) -> None:
        """Start the stages before the live traffic (`TRAFFIC_STAGE`); on a failure, stop what this run
        started and raise."""
        self._start_stages(range(TRAFFIC_STAGE))

    def _start_stages(self, stages: Iterable[int]) -> None:
        for stage in stages:
            if chosen := [part for part in self.components if part.stage == stage]:
                self._start(chosen)

    def _start(self, chosen: list[Part]) -> None:
        """Start the chosen parts at once (they must not depend on each other) and report each. After a
        failure or Ctrl-C, what this run started is stopped."""
        names, interrupted = ", ".join(part.name for part in chosen), threading.Event()
        # Ctrl-C lets the starts under way finish, so that what they started is then stopped.
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        try:
            with self.console.status(f"starting {names} ..."), ThreadPoolExecutor(len(chosen)) as pool:
                outcomes = list(pool.map(_timed_start, chosen))
        finally:
            signal.signal(signal.SIGINT, previous)
        failed = []
        for part, (outcome, took) in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, Exception):
                self.console.print(f"[red]✗ {part.name} failed:[/] {outcome}\n  log: {part.log}")
                failed.append(f"{part.name} failed to start; see {part.log}")
                continue
            verb = outcome.verb or ("started" if outcome.started else "ready")
            self.console.print(f"[green]✓[/] {part.name} {verb}: {outcome.detail} [dim]({took:.1f} s)[/]")
            if part.stop is not None:
                self.services.append(part)
                if outcome.started:
                    self.started.append(part)
        if failed or interrupted.is_set():
            self.stop()
        if interrupted.is_set():
            raise KeyboardInterrupt
        if failed:
            raise StartFailed("; ".join(failed))

    def run(self, duration_s: float | None, refresh_s: float) -> dict[str, Any]:
        """Live traffic (a trickle while the stream starts, until the first alert), the rest of the
        parts, then the status view for `duration_s` at the full rate, or until Ctrl-C; then the summary."""
        since, scored_before = datetime.now(UTC), stream.scored_total(self.settings)
        latency = AlertLatency(self.settings)
        latency.start()
        # A new world each run (the seed moves with the clock), with ids of its own: a run neither
        # replays an earlier one nor meets its users' state in the stream.
        seed = self.settings.simulator.seed + int(time.time()) // 60
        world = live_world(self.settings.simulator, seed=seed, id_prefix=f"w{seed}-")
        rate = self.rate or world.live_rate
        self.console.print(
            f"live traffic: seed {world.seed}, from {world.start_date} (simulated days), "
            f"{min(WARM_UP_RATE, rate):g}/s until the first alert, then {rate:g}/s"
        )
        publisher = LivePublisher(self.settings, on_delivered=latency.delivered)
        traffic = threading.Thread(
            target=publisher.run,
            # a progress callback keeps the report's achieved rate current
            args=(FakerWorldTimeline(world), min(WARM_UP_RATE, rate), None, lambda _: None),
            name="traffic",
            daemon=True,
        )
        traffic.start()
        try:
            self._start_stages(range(TRAFFIC_STAGE, Stage.LATER))
            self._await_first_alert()
            self._start_stages([Stage.LATER])
        except BaseException:  # a part failed to start, or Ctrl-C
            publisher.stop()
            raise
        publisher.set_rate(rate)
        deadline = time.monotonic() + duration_s if duration_s else None
        try:
            with Live(console=self.console, auto_refresh=False) as live:
                while deadline is None or time.monotonic() < deadline:
                    live.update(self._view(publisher, latency, rate, traffic.is_alive()), refresh=True)
                    time.sleep(
                        refresh_s
                        if deadline is None
                        else max(0.0, min(refresh_s, deadline - time.monotonic()))
                    )
        except KeyboardInterrupt:
            pass
        publisher.stop()
        traffic.join(timeout=30)
        # The parts started after the first alert take no part in scoring: stopped first, they leave the
        # machine to the stream for its last micro-batches.
        self.stop(Stage.LATER)
        self._drain(scored_before + publisher.report.transactions)
        latency.stop()
        quality = detection_quality(self.settings, since)
        return {
            "seconds": round((datetime.now(UTC) - since).total_seconds(), 1),
            "published": publisher.report.transactions,
            "target_rate": rate,
            **quality,
            "alerts_on_topic": latency.alerts,
            "alert_latency_s": latency.percentiles(50, 95, 99),
            "first_alert_on_dashboard_s": self.first_alert_s,
        }

    def stop(self, from_stage: Stage = Stage.BROKER) -> list[str]:
        """Stop what this run started in `from_stage` or later, newest first; returns the names of all
        the parts this run has stopped, in order."""
        stopping = [part for part in self.started if part.stage >= from_stage]
        self.started = [part for part in self.started if part.stage < from_stage]
        for part in reversed(stopping):
            with self.console.status(f"stopping {part.name} ..."), contextlib.suppress(Exception):
                if part.stop is not None:
                    part.stop()
                self.stopped.append(part.name)
        return self.stopped

    def _drain(self, target: int) -> None:
        """Let the stream score what was published, for a complete summary; give up when it neither
        finished nor ran a micro-batch for DRAIN_STALL_S (a busy machine makes batches long, not
        the job stalled)."""
        scored, deadline = -1, 0.0
        with self.console.status("letting the stream score the last transactions ...") as shown:
            while (current := stream.running(self.settings)) is not None:
                self._note_first_alert()
                progress = current.progress
                before, scored = scored, progress.totals.transactions
                if scored >= target:
                    break
                shown.update(f"letting the stream score the last transactions ({scored:,} of {target:,}) ...")
                if scored > before or (progress.query is not None and progress.query.batch_running):
                    deadline = time.monotonic() + DRAIN_STALL_S
                elif time.monotonic() > deadline:
                    break
                time.sleep(1)
        self._note_first_alert()

    def _await_first_alert(self) -> None:
        """Until the first alert is on the dashboard, the stream has the machine to itself: the parts
        that can wait (training, UIs) start after it, or after FIRST_ALERT_WAIT_S."""
        deadline = time.monotonic() + FIRST_ALERT_WAIT_S
        with self.console.status("waiting for the first alert on the dashboard ..."):
            while self._note_first_alert() == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
        if self.first_alert_s is None:
            self.console.print(f"[yellow]no alert within {FIRST_ALERT_WAIT_S:.0f} s[/]; starting the rest")
        else:
            self.console.print(
                f"[green]✓[/] first alert on the dashboard {self.first_alert_s:.1f} s after the start"
            )

    def _note_first_alert(self) -> int:
        """How many alerts the alert service has stored; the first time there are any is noted."""
        stored = ((alerts.health(self.settings) or {}).get("consumer") or {}).get("stored", 0)
        if stored and self.first_alert_s is None:
            self.first_alert_s = round(time.time() - self.began, 1)
        return stored

    def _view(
        self, publisher: LivePublisher, latency: AlertLatency, rate: float, traffic_alive: bool
    ) -> Table:
        current = stream.status(self.settings)
        progress = current.progress if current else None
        query = (progress.query if progress else None) or QueryProgress()
        totals = progress.totals if progress else Totals()
        model = progress.model if progress else None
        stored = self._note_first_alert()
        percentiles = latency.percentiles(50, 99)
        elapsed = time.time() - self.began
        health = {part.name: part.healthy() for part in self.services if part.healthy}
        health["live traffic"] = traffic_alive
        table = Table(show_header=False, title=f"fraudguard running for {elapsed:,.0f} s (Ctrl-C stops it)")
        table.add_column(style="bold")
        table.add_column()
        report = publisher.report
        marks = (f"{'[green]✓' if ok else '[red]✗'}[/] {name}" for name, ok in health.items())
        rows = {
            "traffic": f"{report.transactions:,} transactions sent, {report.achieved_rate:,.0f}/s "
            f"(target {rate:,.0f}/s)",
            "stream": f"in {query.input_rows_per_s:,.0f}/s, "
            f"processed {query.processed_rows_per_s:,.0f}/s, lag {query.total_lag:,}",
            "scored": f"{totals.transactions:,} transactions, {totals.dead_letters:,} dead letters",
            "alerts": f"{totals.alerts:,} published, {stored:,} stored by the alert service",
            "alert latency": ", ".join(f"{q} {v:.2f} s" for q, v in percentiles.items()) or "-",
            "model": str(model or "-"),
            "components": "  ".join(marks),
        }
        for name, value in rows.items():
            table.add_row(name, value)
        return table
