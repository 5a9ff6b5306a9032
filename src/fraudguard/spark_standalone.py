"""A Spark standalone cluster on this machine: a master and workers started from the pyspark wheel's
own `spark-class`, each a background service. Jobs reach it with `spark.master: spark://...` and run
in executor JVMs on the workers, as they would on a cluster of machines.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pyspark

from fraudguard import jvm
from fraudguard.background import Background
from fraudguard.config import Settings
from fraudguard.ports import HOST, free_ports

SPARK_HOME = Path(pyspark.__file__).parent


class StandaloneError(RuntimeError):
    pass


@dataclass(frozen=True)
class StandaloneCluster:
    folder: Path
    master_port: int
    ui_port: int
    workers: int = 2
    cores_per_worker: int = 1
    memory_per_worker: str = "1g"

    @classmethod
    def on_free_ports(cls, folder: Path, **sizes) -> StandaloneCluster:
        master_port, ui_port = free_ports(2)
        return cls(folder, master_port, ui_port, **sizes)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    def _service(self, name: str) -> Background:
        return Background(f"Spark {name}", self.folder / f"{name}.json", self.folder / "logs" / f"{name}.log")

    def _environ(self, settings: Settings) -> dict[str, str]:
        java = jvm.java_executable(settings)
        return {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "JAVA_HOME": str(Path(shutil.which(java) or java).resolve().parent.parent),
            "SPARK_LOCAL_IP": HOST,
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOG_DIR": str(self.folder / "logs"),
        }

    def _has_workers(self, count: int) -> bool:
        return self.alive_workers() >= count

    def start(self, settings: Settings, timeout_s: float = 90.0) -> str:
        """Start the master and the workers unless running; return the master URL once every worker
        has registered."""
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        environ = self._environ(settings)
        self._service("master").start(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST,
             "--port", str(self.master_port), "--webui-port", str(self.ui_port)],
            environ, ready=lambda: self._status() is not None, timeout_s=timeout_s,
        )  # fmt: skip
        launched = []  # the workers start together; then every one must register
        for number in range(1, self.workers + 1):
            work_dir, worker = self.folder / f"worker-{number}", self._service(f"worker-{number}")
            work_dir.mkdir(parents=True, exist_ok=True)
            if worker.pid() is None:
                launched.append((worker, worker.launch(
                    [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", HOST,
                     "--cores", str(self.cores_per_worker), "--memory", self.memory_per_worker,
                     "--webui-port", "0", "--work-dir", str(work_dir), self.master_url], environ,
                )))  # fmt: skip
        for worker, started in launched:
            worker.await_ready(started, partial(self._has_workers, self.workers), timeout_s)
        return self.master_url

    def _status(self) -> dict | None:
        """The master's own JSON status page (workers, applications); None until it answers with
        JSON (while its web UI starts, the page can come back empty)."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.ui_port}/json/", timeout=2) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def alive_workers(self) -> int:
        status = self._status() or {}
        return sum(1 for worker in status.get("workers", []) if worker.get("state") == "ALIVE")

    def applications(self) -> list[dict]:
        """Running and completed applications, with the cores they were given."""
        status = self._status() or {}
        return [*status.get("activeapps", []), *status.get("completedapps", [])]

    def stop(self) -> None:
        for number in range(self.workers, 0, -1):
            self._service(f"worker-{number}").stop()
        self._service("master").stop()
