"""`stream.reset` forgets the job's state wherever `stream.state_uri` puts it, or says it cannot."""

from __future__ import annotations

import pytest

from fraudguard.config import load_settings
from fraudguard.stream import control as stream_control
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
