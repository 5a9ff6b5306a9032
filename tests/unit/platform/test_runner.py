"""Parts started together: each is reported; when one fails, or on Ctrl-C, the ones this run started
are stopped (newest first), and a failure names the part and its log. At the end the run waits for the
stream to score its traffic while the stream works, and no longer."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from fraudguard.config import load_settings
from fraudguard.paths import RuntimePaths
from fraudguard.platform import runner
from fraudguard.platform.components import Part, Stage, Started
from fraudguard.platform.runner import PlatformRun, StartFailed
from fraudguard.stream import control as stream_control
from fraudguard.stream.progress import QueryProgress, StreamProgress, Totals
from tests.conftest import CONFIG_FILE


def platform_run(tmp_path: Path) -> tuple[PlatformRun, io.StringIO]:
    output = io.StringIO()
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    return PlatformRun(settings, CONFIG_FILE, Console(file=output, width=200)), output


def test_parts_started_together_run_at_once_and_are_each_reported(tmp_path):
    run, output = platform_run(tmp_path)
    arrived = threading.Barrier(3, timeout=10)  # passes only if all three starts run at the same time

    def start(name: str) -> Part:
        return Part(
            name, lambda: (arrived.wait(), Started(f"{name} up", True))[1], tmp_path / name, stop=lambda: None
        )

    run._start([start("one"), start("two"), start("three")])
    shown = output.getvalue()
    assert all(f"✓ {name} started: {name} up" in shown for name in ("one", "two", "three"))
    assert [part.name for part in run.started] == ["one", "two", "three"]


def test_a_part_that_fails_among_others_stops_what_started_and_names_its_log(tmp_path):
    run, output = platform_run(tmp_path)
    stopped: list[str] = []

    def service(name: str, already_running: bool = False) -> Part:
        return Part(
            name, lambda: Started("up", not already_running), tmp_path, stop=lambda: stopped.append(name)
        )

    def broken() -> Started:
        raise RuntimeError("port 8080 is taken")

    run._start([service("earlier")])
    with pytest.raises(StartFailed, match=f"broken failed to start; see {tmp_path / 'broken.log'}"):
        run._start(
            [
                service("left alone", already_running=True),
                Part("broken", broken, tmp_path / "broken.log"),
                service("later"),
            ]
        )
    assert "✗ broken failed: port 8080 is taken" in output.getvalue()
    assert stopped == ["later", "earlier"], "what this run started, newest first; a running part is left"
    assert run.started == []


def test_ctrl_c_while_parts_start_stops_what_they_started(tmp_path):
    run, _ = platform_run(tmp_path)
    stopped: list[str] = []

    def start_slowly() -> Started:  # Ctrl-C arrives while this part starts
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        return Started("up", True)

    with pytest.raises(KeyboardInterrupt):
        run._start([Part("slow", start_slowly, tmp_path, stop=lambda: stopped.append("slow"))])
    assert stopped == ["slow"] and run.started == []


def test_the_later_parts_stop_first_and_the_run_reports_every_part_it_stopped(tmp_path):
    """At the end of a run, the parts started after the first alert stop before the stream's last
    micro-batches; the rest stop after them."""
    run, _ = platform_run(tmp_path)
    stopped: list[str] = []

    def service(name: str, stage: Stage) -> Part:
        return Part(
            name, lambda: Started("up", True), tmp_path, stop=lambda: stopped.append(name), stage=stage
        )

    run._start([service("Kafka", Stage.BROKER)])
    run._start([service("stream", Stage.STREAM)])
    run._start([service("training", Stage.LATER), service("Airflow", Stage.LATER)])
    assert run.stop(Stage.LATER) == ["Airflow", "training"] == stopped
    assert [part.name for part in run.started] == ["Kafka", "stream"]
    assert run.stop() == ["Airflow", "training", "stream", "Kafka"] == stopped
    assert run.started == []


def report_progress(run: PlatformRun, scored: int, batch_running: bool) -> None:
    """The progress file a scoring job (this process, as far as `stream status` can tell) writes."""
    StreamProgress(
        state="running", pid=os.getpid(), started_at="2026-12-04T10:00", updated_at="2026-12-04T10:01",
        totals=Totals(transactions=scored), query=QueryProgress(batch_running=batch_running),
    ).write(RuntimePaths(run.settings.runtime_dir).stream_progress())  # fmt: skip


def test_the_end_of_a_run_waits_for_a_long_micro_batch_but_not_for_an_idle_stream(tmp_path, monkeypatch):
    run, _ = platform_run(tmp_path)
    monkeypatch.setattr(runner, "DRAIN_STALL_S", 0.5)
    batch_s = 2.5  # a micro-batch five times as long as the stall limit
    stream_control.service(run.settings).claim()
    report_progress(run, scored=100, batch_running=True)
    finished = threading.Timer(batch_s, lambda: report_progress(run, scored=250, batch_running=False))
    finished.start()
    began = time.monotonic()
    run._drain(target=250)
    waited = time.monotonic() - began
    finished.join()
    assert batch_s <= waited < batch_s + 3, "returned before the batch ended, or hung"

    report_progress(run, scored=250, batch_running=False)  # idle, with less scored than published
    began = time.monotonic()
    run._drain(target=400)
    assert 0.5 <= time.monotonic() - began < 4
