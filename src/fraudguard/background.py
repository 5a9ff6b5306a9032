"""A platform service started in the background: its own session, its pid in a file, its output in a log.

Every service the platform runs (the Kafka nodes, the streaming job, the alert service, the MLflow UI,
Airflow's components, a standalone Spark cluster) is started, checked and stopped through `Background`.
The pid file holds the pid, the process's start time (seconds after boot, which a change of the system
clock leaves alone), the boot and the host, so a pid reused by another process after a crash or reboot,
or a process of another machine or container sharing the folder, is never taken for the service.
`start` returns once the service answers its readiness check (or raises naming the log); `stop` sends
SIGTERM (to the process group, or to the leader only for a service that winds down its own children)
and SIGKILL to what remains after a grace period, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

YIELDING = 10
"""The niceness of services that can wait (training, Airflow, the MLflow UI): on a shared machine the
latency-critical ones (Kafka, the stream, the alert service) keep the CPU they need."""


class BackgroundError(RuntimeError):
    pass


def alive(pid: object) -> bool:
    """Whether `pid` is a running process (a zombie waiting to be reaped is not)."""
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE  # type: ignore[call-overload]
    except (psutil.Error, TypeError, ValueError):
        return False


def identity(pid: int | None = None) -> dict[str, Any]:
    """A process (this one by default) as a pid file records it: pid, start time, boot and host."""
    return {
        "pid": psutil.Process(pid).pid,
        "started": _since_boot(pid),
        "boot": _boot(),
        "host": socket.gethostname(),
    }


def _since_boot(pid: int | None) -> float:
    """When the process started, in seconds after boot. psutil adds the boot time (whole seconds, as
    the kernel reports it) to the start time, and that boot time moves with every step of the system
    clock; the difference does not."""
    return round(psutil.Process(pid).create_time() - psutil.boot_time(), 2)


def _boot() -> str:
    """This boot of this machine: Linux's boot id; elsewhere the boot time to the minute."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return str(round(psutil.boot_time() / 60))


def recorded_elsewhere(record: object) -> str | None:
    """The host a pid file `record` names when it is not this one: pids belong to one machine (or
    container), so its process can be neither checked nor signalled from here."""
    host = record.get("host") if isinstance(record, dict) else None
    return host if host and host != socket.gethostname() else None


def is_running(record: object) -> bool:
    """Whether the process a pid file `record` (see `identity`) names still runs here: the same pid,
    started at the same time in the same boot, so a pid reused after a crash or reboot is not taken for it."""
    if recorded_elsewhere(record):
        return False
    try:
        pid, started = int(record["pid"]), float(record["started"])  # type: ignore[index]
        same = record["boot"] == _boot() and abs(_since_boot(pid) - started) < 0.05  # type: ignore[index]
        return same and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError, KeyError):
        return False


def signal_group(pid: int, signal_number: int) -> None:
    """Signal the process group `pid` leads (a service started in its own session leads one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal_number)


def stop_group(pid: int, timeout_s: float, term_group: bool = True) -> None:
    """SIGTERM the group (or its leader only), wait up to `timeout_s` for it and for its descendants still
    in its session (a task may move to a group of its own), then SIGKILL whatever remains."""
    try:
        session = os.getsid(pid)
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except (psutil.Error, ProcessLookupError):
        members, session = [], None
    members = [m for m in members if _in_session(m.pid, session)]
    if term_group:
        signal_group(pid, signal.SIGTERM)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(m.pid) for m in members):
        time.sleep(0.2)
    signal_group(pid, signal.SIGKILL)
    for member in members:
        with contextlib.suppress(psutil.Error):
            member.kill()


def _in_session(pid: int, session: int | None) -> bool:
    try:
        return os.getsid(pid) == session
    except ProcessLookupError:
        return False


@dataclass(frozen=True)
class Launched:
    """A service's process just started, not yet known to be ready."""

    process: subprocess.Popen[bytes]
    began: float  # time.monotonic() at the launch


@dataclass(frozen=True)
class Background:
    name: str
    pid_file: Path
    log_file: Path
    term_group: bool = True
    """False: SIGTERM goes to the leader alone, which stops its children itself (e.g. a Spark driver
    finishing its micro-batch); the group gets SIGKILL after the grace period all the same."""
    niceness: int = 0
    """Above 0, the service and the processes it starts yield the CPU to the others (`YIELDING`)."""

    def record(self) -> dict[str, Any] | None:
        """What the pid file says (pid, start time, host), whether or not that process still runs."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def pid(self) -> int | None:
        """The pid of the running service; None when it is not running (a stale pid file is ignored)."""
        record = self.record()
        return int(record["pid"]) if record is not None and is_running(record) else None

    def elsewhere(self) -> str | None:
        """The host the service last ran on, when that is another machine or container."""
        return recorded_elsewhere(self.record())

    def claim(self) -> None:
        """Record this process as the service: for a service started in the foreground (e.g. by a
        container's entry point), so that status and stop find it as they find a background one."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(json.dumps(identity()))

    def start(
        self,
        command: Sequence[str],
        environ: Mapping[str, str],
        ready: Callable[[], bool],
        timeout_s: float,
    ) -> tuple[int, bool]:
        """Start unless running; wait for `ready()`. Returns (pid, whether it was started now). An error
        `ready()` raises (the service reported a failure) stops the service and propagates."""
        running = self.pid()
        if running is not None:
            return running, False
        return self.await_ready(self.launch(command, environ), ready, timeout_s), True

    def launch(self, command: Sequence[str], environ: Mapping[str, str]) -> Launched:
        """Start the process and return at once, for a caller with other work before it needs the
        service (`await_ready`). The caller has checked that the service is not running."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.niceness:  # set before the service starts, so that every child it starts inherits it
            command = ["nice", "-n", str(self.niceness), *command]
        began = time.monotonic()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(environ),
            )
        with contextlib.suppress(psutil.Error):
            self.pid_file.write_text(json.dumps(identity(process.pid)))
        return Launched(process, began)

    def await_ready(self, launched: Launched, ready: Callable[[], bool], timeout_s: float) -> int:
        """Wait until `ready()`, at most `timeout_s` after the launch; returns the pid. A service that
        exits, reports a failure (`ready()` raises) or is not ready in time is stopped, with an error."""
        process = launched.process
        deadline = launched.began + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                ready()  # raises the failure the service reported, when it reported one
                raise BackgroundError(
                    f"{self.name} exited with code {process.returncode} while starting; see {self.log_file}"
                )
            try:
                if ready():
                    return process.pid
            except Exception:
                self.stop()
                raise
            time.sleep(0.3)
        self.stop()
        raise BackgroundError(f"{self.name} was not ready within {timeout_s:.0f} s; see {self.log_file}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM the service's process group, SIGKILL what remains after `timeout_s`; whether it ran."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_group(pid, timeout_s, self.term_group)
        return True

    def kill(self) -> bool:
        """SIGKILL the service's process group at once, as a crash would; whether it ran."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        signal_group(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(10)
        return True
