"""The streaming job's lifecycle as DAG tasks: `fraud_stream_control` and the training DAG's restart."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from fraudguard.config import Settings
from fraudguard.data.naming import WORLD  # the DAG form's default dataset
from fraudguard.stream import control

log = logging.getLogger("fraudguard.stream.control")


class StreamAction(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    STATUS = "status"


def control_stream(
    settings: Settings, config_path: str, action: StreamAction | str, dataset: str = WORLD
) -> dict[str, Any]:
    """Do `action` on the job serving `dataset` (the simulated world, or an imported dataset's replay)
    and return its status afterwards (what the task log and XCom show)."""
    action = StreamAction(action)
    settings = control.for_dataset(settings, None if dataset == WORLD else dataset)
    if action is StreamAction.START:
        control.start_detached(settings, config_path)
    elif action is StreamAction.STOP:
        control.stop(settings)
    elif action is StreamAction.RESTART:
        control.restart(settings, config_path)
    summary = summarize(control.status(settings))
    log.info("stream %s", action.value, extra=summary)
    return summary


def restart_if_running(settings: Settings, config_path: str) -> dict[str, Any]:
    """After a promotion: a running job restarts to serve the new champion now rather than at its next
    poll; a job that is not running is left stopped (starting it is the stream DAG's decision)."""
    current = control.status(settings)
    if current is not None and current.live_elsewhere:
        reason = (f"the stream runs on host {current.elsewhere}: it serves the new champion at its next "
                  f"registry poll (every {settings.stream.model_poll_s:g} s)")  # fmt: skip
        return {"restarted": False, "reason": reason, **summarize(current)}
    if control.running(settings) is None:
        return {"restarted": False, "reason": "the stream is not running", **summarize(current)}
    summary = summarize(control.restart(settings, config_path))
    log.info("stream restarted", extra=summary)
    return {"restarted": True, "reason": "a new champion was promoted", **summary}


def summarize(current: control.StreamStatus | None) -> dict[str, Any]:
    """The status fields worth a glance, flat, JSON-ready."""
    if current is None:
        return {"alive": False, "state": "never started"}
    progress = current.progress
    return {
        "alive": current.alive,
        "state": control.shown_state(current),
        "pid": progress.pid,
        "model_version": progress.model.version if progress.model else None,
        "transactions": progress.totals.transactions,
        "alerts": progress.totals.alerts,
        "dead_letters": progress.totals.dead_letters,
    }
