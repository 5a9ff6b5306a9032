"""A managed process is known by its pid and start time: a pid reused by another process after a crash
or reboot is never taken for it, and never signalled. A service that can wait yields the CPU, with
everything it starts."""

from __future__ import annotations

import json
import os

import pytest

from fraudguard.background import YIELDING, Background, identity, is_running
from fraudguard.config import load_settings
from fraudguard.orchestration.local_airflow import LocalAirflow
from fraudguard.orchestration.stream_lifecycle import restart_if_running
from fraudguard.paths import RuntimePaths
from fraudguard.stream import control as stream_control
from fraudguard.stream.progress import StreamProgress
from tests.conftest import CONFIG_FILE


def running_job(settings, record: dict) -> None:
    """A job's files as a job that last reported itself running writes them, for the process `record`."""
    paths = RuntimePaths(settings.runtime_dir)
    StreamProgress(state="running", pid=record["pid"], started_at="10:00", updated_at="10:01").write(
        paths.stream_progress()
    )
    paths.stream_pid().write_text(json.dumps(record))


def test_a_reused_pid_is_not_the_stream_and_gets_no_signal(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    me = identity()
    running_job(settings, me)
    assert is_running(me) and stream_control.running(settings) is not None

    # This test process plays a process that reused the pid of a job that died an hour ago.
    dead_job = {**me, "started": me["started"] - 3600}
    running_job(settings, dead_job)
    assert not is_running(dead_job)
    assert not is_running({**me, "boot": "a boot before the last reboot"})
    assert stream_control.status(settings).alive is False and stream_control.running(settings) is None
    assert stream_control.stop(settings) is None  # a SIGTERM here would end this test


def test_a_reused_pid_is_not_an_airflow_component_and_gets_no_signal(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    local = LocalAirflow(settings, CONFIG_FILE)
    scheduler = local.service("scheduler").pid_file
    scheduler.parent.mkdir(parents=True, exist_ok=True)
    me = identity()
    scheduler.write_text(json.dumps(me))
    assert local.running() == {"scheduler": me["pid"]}

    # This test process plays a process that reused the pid of a scheduler that died an hour ago.
    scheduler.write_text(json.dumps({**me, "started": me["started"] - 3600}))
    assert local.running() == {}
    assert local.stop() == []  # a SIGTERM to this pid's group would end this test


def test_a_stream_on_another_host_is_reported_and_never_signalled(tmp_path):
    """E.g. docker/: the training DAG's container shares the runtime folder with the stream's container,
    whose pids mean nothing here; the new champion reaches that stream by its registry poll instead."""
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    # This test process's own pid and start time, recorded by a container named "stream".
    elsewhere = {**identity(), "host": "stream"}
    running_job(settings, elsewhere)
    assert not is_running(elsewhere)
    current = stream_control.status(settings)
    assert current.alive is False and current.elsewhere == "stream"
    assert stream_control.shown_state(current) == "running on host stream (as it last reported)"

    outcome = restart_if_running(settings, str(CONFIG_FILE))
    assert outcome["restarted"] is False and "host stream" in outcome["reason"]
    assert "registry poll" in outcome["reason"]
    for action in (stream_control.stop, stream_control.reset):  # a SIGTERM here would end this test
        with pytest.raises(stream_control.StreamError, match="runs on host stream"):
            action(settings)
    with pytest.raises(stream_control.StreamError, match="runs on host stream"):
        stream_control.start_detached(settings, str(CONFIG_FILE))


def test_a_yielding_service_and_what_it_starts_run_at_its_niceness(tmp_path):
    import psutil

    service = Background("sleeper", tmp_path / "sleeper.pid", tmp_path / "sleeper.log", niceness=YIELDING)
    marker = tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 30 & echo $! > {marker}.tmp && mv {marker}.tmp {marker}; wait"]
    pid, started = service.start(command, os.environ, marker.exists, timeout_s=10)
    try:
        assert started
        child = int(marker.read_text())
        own = psutil.Process().nice()
        assert [psutil.Process(p).nice() for p in (pid, child)] == [own + YIELDING] * 2
    finally:
        assert service.stop(timeout_s=5)
