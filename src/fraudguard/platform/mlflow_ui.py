"""The MLflow UI over the platform's tracking store (runs, metrics, the model registry), on loopback."""

from __future__ import annotations

import os
import sys

import httpx

from fraudguard.background import YIELDING, Background
from fraudguard.config import Settings
from fraudguard.paths import RuntimePaths


def server(settings: Settings) -> Background:
    logs = RuntimePaths(settings.runtime_dir).logs
    return Background(
        "the MLflow UI", settings.runtime_dir / "mlflow" / "ui.pid", logs / "mlflow-ui.log", niceness=YIELDING
    )


def url(settings: Settings) -> str:
    return f"http://{settings.mlflow.ui_host}:{settings.mlflow.ui_port}/"


def healthy(settings: Settings) -> bool:
    try:
        return httpx.get(url(settings) + "health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start(settings: Settings) -> tuple[int, bool]:
    """`mlflow server` with one worker and its job runner off (it starts ~8 processes, 1 GB, for
    features the platform does not use)."""
    (settings.runtime_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    command, environ = launch(settings)
    return server(settings).start(
        command, {**os.environ, **environ}, lambda: healthy(settings), settings.mlflow.ui_start_timeout_s
    )


def launch(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """The command and its environment. The store URI (it may hold a password) goes by environment:
    a command line is visible to every user of the machine (`ps`)."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", settings.mlflow.ui_host,
               "--port", str(settings.mlflow.ui_port), "--workers", "1"]  # fmt: skip
    return command, {
        "MLFLOW_BACKEND_STORE_URI": settings.mlflow.tracking_uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
