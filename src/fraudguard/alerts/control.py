"""The alert service in the background (`alerts serve --detach`, `alerts stop`), from any process."""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx

from fraudguard.background import Background
from fraudguard.config import CONFIG_PATH_VAR, Settings
from fraudguard.paths import RuntimePaths


def service(settings: Settings) -> Background:
    paths = RuntimePaths(settings.runtime_dir)
    return Background(
        "the alert service", settings.runtime_dir / "alerts" / "service.pid", paths.logs / "alerts.log"
    )


def url(settings: Settings) -> str:
    return f"http://{settings.alerts.host}:{settings.alerts.port}/"


def health(settings: Settings) -> dict[str, Any] | None:
    """The running service's /api/health answer; None when it does not answer."""
    try:
        response = httpx.get(url(settings) + "api/health", timeout=2)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def start_detached(settings: Settings, config_path: str) -> tuple[int, bool]:
    """Start `fraudguard alerts serve` in the background; return once its API answers."""
    command = [sys.executable, "-m", "fraudguard", "alerts", "serve"]
    environ = {**os.environ, CONFIG_PATH_VAR: str(config_path)}
    return service(settings).start(
        command, environ, lambda: health(settings) is not None, settings.alerts.start_timeout_s
    )


def stop(settings: Settings) -> bool:
    """SIGTERM: the consumer finishes its batch and commits; whether it was running."""
    return service(settings).stop()
