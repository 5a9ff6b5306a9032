"""Start the scoring job in the background, stop it gracefully, read its status, from any process.

One job per scored source: the simulated world's, and one per imported dataset being replayed
(`stream.dataset`), each with its own progress file, log, checkpoint and champion, so that datasets
start, stop and reset independently and a bad one cannot stall another's scoring.

A job's progress file (`<runtime>/stream/progress[-<dataset>].json`) carries its pid, the pid's start
time, its host and its state; it is the only link between the job and these commands, which signal the
pid only while it is still the job on this host (a pid reused after a crash or reboot is left alone,
and a job on another machine or container, sharing the runtime folder, is managed there or by its
orchestrator).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import psutil

from fraudguard.background import is_running, recorded_elsewhere, signal_group
from fraudguard.config import CONFIG_PATH_VAR, Settings
from fraudguard.data.naming import stream_settings
from fraudguard.paths import RuntimePaths

START_TIMEOUT_S = 180.0  # Spark start, model load, first query start
LIVE_STATES = ("starting", "running", "restarting")


class StreamError(RuntimeError):
    pass


@dataclass(frozen=True)
class StreamStatus:
    alive: bool  # its process runs on this host
    progress: dict[str, Any]
    elsewhere: str | None = None  # the host it runs on, when another one (not checked from here)

    @property
    def live_elsewhere(self) -> bool:
        return self.elsewhere is not None and self.progress.get("state") in LIVE_STATES


def status(settings: Settings) -> StreamStatus | None:
    """The job's last progress and whether its process still runs; None if it never ran here."""
    try:
        progress = json.loads(_progress_file(settings).read_text())
    except (OSError, ValueError):
        return None
    process = progress.get("process")
    return StreamStatus(alive=is_running(process), progress=progress, elsewhere=recorded_elsewhere(process))


def for_dataset(settings: Settings, dataset: str | None) -> Settings:
    """The settings of the job serving `dataset` (None: the simulated world's)."""
    return settings.model_copy(update={"stream": settings.stream.model_copy(update={"dataset": dataset})})


def known_jobs(settings: Settings) -> list[Settings]:
    """The simulated world's job and every dataset's job that ever ran with this runtime folder."""
    folder = RuntimePaths(settings.runtime_dir).stream
    datasets = sorted(path.stem.removeprefix("progress-") for path in folder.glob("progress-*.json"))
    return [for_dataset(settings, name) for name in [None, *datasets]]


def _progress_file(settings: Settings) -> Path:
    return RuntimePaths(settings.runtime_dir).stream_progress(settings.stream.dataset)


def log_file(settings: Settings) -> Path:
    return RuntimePaths(settings.runtime_dir).stream_log(settings.stream.dataset)


def _not_on_another_host(current: StreamStatus | None, action: str) -> None:
    if current is not None and current.live_elsewhere:
        raise StreamError(
            f"the stream runs on host {current.elsewhere} (state {current.progress.get('state')}), which "
            f"cannot be {action} from here: use that host or its orchestrator (e.g. `docker compose "
            "restart stream`); it serves a new champion at its next registry poll anyway"
        )


def scored_total(settings: Settings) -> int:
    """Transactions the job has scored so far (its totals survive restarts; 0 if it never ran)."""
    current = status(settings)
    return ((current.progress if current else {}).get("totals") or {}).get("transactions", 0)


def shown_state(current: StreamStatus) -> str:
    """The state as status lines show it: a job whose process is gone or elsewhere says so."""
    state = current.progress.get("state", "?")
    if current.alive:
        return state
    if current.live_elsewhere:
        return f"{state} on host {current.elsewhere} (as it last reported)"
    return f"not running (last: {state})"


def running(settings: Settings) -> StreamStatus | None:
    current = status(settings)
    return current if current and current.alive and current.progress.get("state") in LIVE_STATES else None


def start_detached(
    settings: Settings, config_path: str, available_now: bool = False
) -> tuple[StreamStatus, bool]:
    """Start the job as its own process (own session); return once its query runs."""
    existing = running(settings)
    if existing:
        return existing, False
    _not_on_another_host(status(settings), "started again")
    log = log_file(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    _progress_file(settings).unlink(missing_ok=True)
    command = [sys.executable, "-m", "fraudguard", "stream", "start"]
    if available_now:
        command.append("--available-now")
    if settings.stream.dataset:
        command += ["--dataset", settings.stream.dataset]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, CONFIG_PATH_VAR: str(config_path)},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        current = status(settings)
        if current and current.progress.get("pid") == process.pid:
            state = current.progress.get("state")
            if state == "running" or (available_now and state == "stopped"):
                return current, True
            if state == "failed":
                raise StreamError(f"the stream failed to start: {current.progress.get('error')}; "
                                  f"see {log}")  # fmt: skip
        if process.poll() is not None:
            raise StreamError(f"the stream exited with code {process.returncode} while starting; "
                              f"see {log}")  # fmt: skip
        time.sleep(0.2)
    signal_group(process.pid, signal.SIGKILL)
    raise StreamError(f"the stream did not start within {START_TIMEOUT_S:.0f} s; see {log}")


def stop(settings: Settings) -> StreamStatus | None:
    """Ask the job to stop after its current micro-batch (SIGTERM); kill it after `stop_timeout_s`."""
    current = running(settings)
    if current is None:
        _not_on_another_host(status(settings), "stopped")
        return None
    pid = current.progress["pid"]
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        _, left = psutil.wait_procs([process], timeout=settings.stream.stop_timeout_s + 30)
        if left:
            signal_group(pid, signal.SIGKILL)  # the job and its Spark JVM (one process group)
    except psutil.NoSuchProcess:
        pass
    return status(settings)


def restart(settings: Settings, config_path: str) -> StreamStatus:
    """Stop gracefully, then start in the background (e.g. to serve a new champion at once)."""
    _not_on_another_host(status(settings), "restarted")
    stop(settings)
    current, _ = start_detached(settings, config_path)
    return current


def reset(settings: Settings) -> None:
    """Forget the job's checkpoint, per-user state and tables (the scored history stays): for a newly
    formatted Kafka cluster, whose offsets and records the old state no longer describes. Other jobs'
    state stays."""
    if running(settings):
        raise StreamError("the stream is running; stop it before resetting its state")
    _not_on_another_host(status(settings), "reset")
    state_uri = stream_settings(settings).stream.state_uri
    state = urlparse(state_uri)
    if state.scheme != "file":
        raise StreamError(f"the job's state is at {state_uri}: delete it with that storage's tools, then "
                          "start again")  # fmt: skip
    shutil.rmtree(url2pathname(state.path), ignore_errors=True)
    _progress_file(settings).unlink(missing_ok=True)
