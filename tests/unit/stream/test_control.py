"""`stream.reset` forgets the job's state wherever `stream.state_uri` puts it, or says it cannot."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from fraudguard.config import load_settings
from fraudguard.data.naming import stream_settings
from fraudguard.paths import RuntimePaths
from fraudguard.stream import control as stream_control
from fraudguard.stream.progress import ProgressError, ServedModel, StreamProgress
from tests.conftest import CONFIG_FILE


def test_reset_removes_a_local_state_uri_and_refuses_a_remote_one(tmp_path):
    state = tmp_path / "shared" / "state"
    (state / "checkpoint").mkdir(parents=True)
    environ = {
        "FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var"),
        "FRAUDGUARD__STREAM__STATE_URI": state.as_uri(),
    }
    stream_control.reset(load_settings(CONFIG_FILE, environ=environ))
    assert not state.exists() and (tmp_path / "shared").exists()

    remote = load_settings(CONFIG_FILE, environ={**environ, "FRAUDGUARD__STREAM__STATE_URI": "hdfs://nn/fg"})
    with pytest.raises(stream_control.StreamError, match="hdfs://nn/fg"):
        stream_control.reset(remote)


def test_each_job_resets_only_its_own_state_and_every_known_job_can_be_found(tmp_path):
    """A newly formatted broker resets every job that ran here (`known_jobs`); one job's reset leaves
    the others' checkpoints alone."""
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var")})
    jobs = {None: settings, "paysim": stream_control.for_dataset(settings, "paysim")}
    states = {name: Path(url2pathname(urlparse(stream_settings(job).stream.state_uri).path))
              for name, job in jobs.items()}  # fmt: skip
    for name, state in states.items():
        (state / "checkpoint").mkdir(parents=True)
        stopped = StreamProgress(
            state="stopped", pid=1, started_at="2026-12-02T10:00", updated_at="2026-12-02T10:01"
        )
        stopped.write(RuntimePaths(settings.runtime_dir).stream_progress(name))
    assert states[None] != states["paysim"]
    assert [job.stream.dataset for job in stream_control.known_jobs(settings)] == [None, "paysim"]

    stream_control.reset(jobs["paysim"])
    assert not states["paysim"].exists() and (states[None] / "checkpoint").exists()
    assert stream_control.status(jobs["paysim"]) is None and stream_control.status(settings) is not None


def test_an_unreadable_progress_file_is_an_error_naming_it(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path / "var")})
    path = RuntimePaths(settings.runtime_dir).stream_progress()
    path.parent.mkdir(parents=True)
    path.write_text('{"state": "running"}')  # no pid, no times
    with pytest.raises(ProgressError, match=str(path)):
        stream_control.status(settings)


def test_a_served_model_reads_as_its_name_version_and_source():
    assert (
        str(ServedModel(name="fraud-detector", version="3", source="registry"))
        == "fraud-detector v3 (registry)"
    )
    assert str(ServedModel(name="fraud-detector", version="bootstrap", source="export")) == (
        "fraud-detector bootstrap (export)"
    )


def test_status_shows_a_micro_batch_that_is_still_running():
    from rich.console import Console

    from fraudguard.cli.stream import status_table
    from fraudguard.stream.progress import QueryProgress

    def shown(query: QueryProgress) -> str:
        progress = StreamProgress(state="running", pid=1, started_at="2026-12-04T10:00",
                                  updated_at="2026-12-04T10:01", query=query)  # fmt: skip
        console = Console(width=200, record=True)
        console.print(
            status_table(stream_control.StreamStatus(alive=True, progress=progress, elsewhere=None))
        )
        return " ".join(console.export_text().replace("│", " ").split())

    assert "last batch -; a micro-batch is running" in shown(QueryProgress(batch_running=True))
    finished = shown(QueryProgress(batch_id=7, timestamp="2026-12-04T10:00:59Z"))
    assert (
        "last batch 7 at 2026-12-04T10:00:59Z" in finished
        and "running" not in finished.split("last batch")[1][:40]
    )
