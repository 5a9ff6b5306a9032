"""A managed process is known by its pid and start time: a pid reused by another process after a crash
or reboot is never taken for it, and never signalled."""

from __future__ import annotations

import json

from fraudguard.background import identity, is_running
from fraudguard.config import load_settings
from fraudguard.orchestration.local_airflow import LocalAirflow
from fraudguard.paths import RuntimePaths
from fraudguard.stream import control as stream_control
from tests.conftest import CONFIG_FILE


def test_a_reused_pid_is_not_the_stream_and_gets_no_signal(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    progress = RuntimePaths(settings.runtime_dir).stream_progress
    progress.parent.mkdir(parents=True)
    me = identity()
    progress.write_text(json.dumps({"state": "running", "pid": me["pid"], "process": me}))
    assert is_running(me) and stream_control.running(settings) is not None

    # This test process plays a process that reused the pid of a job that died an hour ago.
    dead_job = {**me, "started": me["started"] - 3600}
    progress.write_text(json.dumps({"state": "running", "pid": me["pid"], "process": dead_job}))
    assert not is_running(dead_job)
    assert stream_control.status(settings).alive is False and stream_control.running(settings) is None
    assert stream_control.stop(settings) is None  # a SIGTERM here would end this test


def test_a_reused_pid_is_not_an_airflow_component_and_gets_no_signal(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    local = LocalAirflow(settings, CONFIG_FILE)
    local.pid_file.parent.mkdir(parents=True, exist_ok=True)
    me = identity()
    local.pid_file.write_text(json.dumps({"scheduler": me}))
    assert local.running() == {"scheduler": me["pid"]}

    # This test process plays a process that reused the pid of a scheduler that died an hour ago.
    local.pid_file.write_text(json.dumps({"scheduler": {**me, "started": me["started"] - 3600}}))
    assert local.running() == {}
    assert local.stop() == []  # a SIGTERM to this pid's group would end this test
