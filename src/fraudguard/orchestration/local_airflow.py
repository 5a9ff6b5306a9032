"""Local Airflow: its components started one by one, on loopback, with AIRFLOW_HOME in the runtime folder.

`airflow standalone` is not used because its log server listens on every interface and no setting
moves it. Here the API server (UI and REST) binds to `airflow.host`, the scheduler runs without a log
server (tasks run on this machine, so the API server reads their logs from disk), and the DAG
processor parses the project's dags folder. No triggerer runs: no fraudguard task defers. Each
component is its own process group, so stopping leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fraudguard.background import YIELDING, Background, BackgroundError
from fraudguard.config import CONFIG_PATH_VAR, Settings
from fraudguard.paths import RuntimePaths

ADMIN_USER = "admin"
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "dag_processor")


class AirflowError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalAirflow:
    """Where this configuration's Airflow lives and how to reach it."""

    settings: Settings
    config_path: Path

    @property
    def home(self) -> Path:
        return self.settings.airflow.home

    @property
    def url(self) -> str:
        return f"http://{self.settings.airflow.host}:{self.settings.airflow.port}"

    @property
    def password_file(self) -> Path:
        """Written by the API server at its first start: {"admin": "<generated password>"}."""
        return self.home / "simple_auth_manager_passwords.json.generated"

    def log_file(self, component: str) -> Path:
        return RuntimePaths(self.settings.runtime_dir).logs / f"airflow-{component}.log"

    def service(self, component: str) -> Background:
        return Background(
            f"Airflow's {component}",
            self.home / f"{component}.pid",
            self.log_file(component),
            niceness=YIELDING,
        )

    def components(self) -> dict[str, list[str]]:
        airflow = self.settings.airflow
        return {
            "api-server": [
                "api-server",
                "--host",
                airflow.host,
                "--port",
                str(airflow.port),
                "--workers",
                "1",
            ],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }

    def environment(self) -> dict[str, str]:
        """The process environment every Airflow command of this platform runs with (also `airflow
        dags test`). Other AIRFLOW__* variables of the caller pass through, e.g. a PostgreSQL
        metadata database in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN."""
        airflow = self.settings.airflow
        return {
            **os.environ,
            CONFIG_PATH_VAR: str(self.config_path.resolve()),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(airflow.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(airflow.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the nightly retraining is on
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": airflow.host,
            "AIRFLOW__API__PORT": str(airflow.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "MLFLOW_LOGGING_LEVEL": "WARNING",
        }

    def command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *arguments]

    def cli_json(self, *arguments: str, extra_env: dict[str, str] | None = None) -> Any:
        """An `airflow ... -o json` command's answer (Airflow prints its warnings to stdout first)."""
        done = subprocess.run(
            self.command(*arguments, "-o", "json"),
            env={**self.environment(), **(extra_env or {})},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(
            next(line for line in reversed(done.stdout.splitlines()) if line.startswith(("[", "{")))
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def running(self) -> dict[str, int]:
        """The pid of each component still running (a pid reused after a crash or reboot is not taken
        for a component, nor signalled)."""
        pids = {name: self.service(name).pid() for name in self.components()}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def start(self) -> bool:
        """Start what is not running; return once the API, scheduler and DAG processor are healthy.
        False when everything was already running. A component that fails stops the others."""
        if set(self.running()) == set(self.components()):
            return False
        self.stop()
        self.migrate()
        environ, timeout_s = self.environment(), self.settings.airflow.start_timeout_s
        try:
            for name, arguments in self.components().items():
                self.service(name).start(self.command(*arguments), environ, lambda: True, timeout_s)
            self._wait_healthy()
        except (AirflowError, BackgroundError) as error:
            self.stop()
            raise AirflowError(str(error)) from None
        return True

    def stop(self) -> list[str]:
        """Stop each component's process group: SIGTERM, then SIGKILL after a grace period. The API
        server goes last, so that tasks the scheduler winds down can still report to it. Returns the
        components that were running."""
        running = self.running()
        deadline = time.monotonic() + self.settings.airflow.stop_timeout_s
        for name in reversed(list(self.components())):
            self.service(name).stop(max(0.0, deadline - time.monotonic()))
        return sorted(running)

    def health(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def migrate(self) -> None:
        """Create or upgrade the metadata database (idempotent, ~3 s on SQLite)."""
        self.home.mkdir(parents=True, exist_ok=True)
        RuntimePaths(self.settings.runtime_dir).logs.mkdir(parents=True, exist_ok=True)
        log = self.log_file("db-migrate")
        with log.open("ab") as out:
            done = subprocess.run(
                self.command("db", "migrate"), stdout=out, stderr=subprocess.STDOUT, env=self.environment()
            )
        if done.returncode != 0:
            raise AirflowError(f"`airflow db migrate` failed (exit {done.returncode}); see {log}")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.airflow.start_timeout_s
        while time.monotonic() < deadline:
            running = self.running()
            for name in self.components():
                if name not in running:
                    raise AirflowError(f"Airflow's {name} exited while starting; see {self.log_file(name)}")
            health = self.health() or {}
            if all((health.get(part) or {}).get("status") == "healthy" for part in HEALTHY_COMPONENTS):
                return
            time.sleep(1.0)
        raise AirflowError(
            f"Airflow was not healthy within {self.settings.airflow.start_timeout_s:.0f} s; "
            f"see {RuntimePaths(self.settings.runtime_dir).logs}/airflow-*.log"
        )
