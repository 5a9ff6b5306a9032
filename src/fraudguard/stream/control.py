"""Start the scoring job in the background, stop it gracefully, read its status, from any process.

One job per scored source: the simulated world's, and one per imported dataset being replayed
(`stream.dataset`), each with its own progress file, log, checkpoint and champion, so that datasets
start, stop and reset independently and a bad one cannot stall another's scoring.

The job runs as a `Background` service (`<runtime>/stream/job[-<dataset>].pid`, its log under
`<runtime>/logs`), also when started in the foreground, and reports through its progress file
(`progress[-<dataset>].json`, the `stream.progress` model). These commands signal the job only while
its pid is still the job on this host: a pid reused after a crash or reboot is left alone, and a job on
another machine or container sharing the runtime folder is managed there or by its orchestrator.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from fraudguard.background import Background, BackgroundError, Launched
from fraudguard.config import CONFIG_PATH_VAR, Settings
from fraudguard.data.naming import stream_settings
from fraudguard.paths import RuntimePaths
from fraudguard.stream.progress import StreamProgress


class StreamError(RuntimeError):
    pass


@dataclass(frozen=True)
class StreamStatus:
    alive: bool  # its process runs on this host
    progress: StreamProgress
    elsewhere: str | None = None  # the host it runs on, when another one (not checked from here)

    @property
    def live_elsewhere(self) -> bool:
        return self.elsewhere is not None and self.progress.live


def service(settings: Settings) -> Background:
    """The job as a background service. SIGTERM goes to the job alone, which stops between micro-batches
    and then stops its Spark JVM; what remains after `stream.stop_timeout_s` (and 30 s for Spark to
    stop) is killed."""
    paths = RuntimePaths(settings.runtime_dir)
    return Background(
        "the stream", paths.stream_pid(settings.stream.dataset), log_file(settings), term_group=False
    )


def status(settings: Settings) -> StreamStatus | None:
    """The job's last progress and whether its process still runs; None if it never ran here."""
    progress = StreamProgress.read(_progress_file(settings))
    if progress is None:
        return None
    job = service(settings)
    return StreamStatus(alive=job.pid() is not None, progress=progress, elsewhere=job.elsewhere())


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
            f"the stream runs on host {current.elsewhere} (state {current.progress.state}), which "
            f"cannot be {action} from here: use that host or its orchestrator (e.g. `docker compose "
            "restart stream`); it serves a new champion at its next registry poll anyway"
        )


def scored_total(settings: Settings) -> int:
    """Transactions the job has scored so far (its totals survive restarts; 0 if it never ran)."""
    current = status(settings)
    return current.progress.totals.transactions if current else 0


def shown_state(current: StreamStatus) -> str:
    """The state as status lines show it: a job whose process is gone or elsewhere says so."""
    state = current.progress.state
    if current.alive:
        return state
    if current.live_elsewhere:
        return f"{state} on host {current.elsewhere} (as it last reported)"
    return f"not running (last: {state})"


def running(settings: Settings) -> StreamStatus | None:
    current = status(settings)
    return current if current and current.alive and current.progress.live else None


def start_detached(
    settings: Settings, config_path: str, available_now: bool = False
) -> tuple[StreamStatus, bool]:
    """Start the job as its own process (own session); return once its query runs. Returns its status and
    whether it was started now."""
    launched = launch(settings, config_path, available_now)
    return await_start(settings, launched, available_now), launched is not None


def launch(settings: Settings, config_path: str, available_now: bool = False) -> Launched | None:
    """Start the job's process and return at once (None: it runs already): its Spark session and model
    load while the caller starts the rest; the job waits for its topics (`stream.job`)."""
    if running(settings):
        return None
    _not_on_another_host(status(settings), "started again")
    job = service(settings)
    if (pid := job.pid()) is not None:
        raise StreamError(f"the stream's previous process (pid {pid}) is still stopping; start it again soon")
    _progress_file(settings).unlink(missing_ok=True)
    command = [sys.executable, "-m", "fraudguard", "stream", "start"]
    if available_now:
        command.append("--available-now")
    if settings.stream.dataset:
        command += ["--dataset", settings.stream.dataset]
    return job.launch(command, {**os.environ, CONFIG_PATH_VAR: str(config_path)})


def await_start(settings: Settings, launched: Launched | None, available_now: bool = False) -> StreamStatus:
    """Wait until the launched job's query runs (or, for `available_now`, has run), at most
    `stream.start_timeout_s` after the launch."""

    def started() -> bool:
        current = StreamProgress.read(_progress_file(settings))
        if current is not None and current.state == "failed":
            raise StreamError(f"the stream failed to start: {current.error}; see {log_file(settings)}")
        return current is not None and (
            current.state == "running" or (available_now and current.state == "stopped")
        )

    if launched is not None:
        try:
            service(settings).await_ready(launched, started, settings.stream.start_timeout_s)
        except BackgroundError as error:
            raise StreamError(str(error)) from None
    current = status(settings)
    assert current is not None, "the job reported its start"
    return current


def stop(settings: Settings) -> int | None:
    """Ask the job to stop after its current micro-batch (SIGTERM), also while it is still starting;
    kill it after `stop_timeout_s`. Returns the pid it had, None when it was not running."""
    job = service(settings)
    pid = job.pid()
    if pid is None:
        _not_on_another_host(status(settings), "stopped")
        return None
    job.stop(settings.stream.stop_timeout_s + 30)
    return pid


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
