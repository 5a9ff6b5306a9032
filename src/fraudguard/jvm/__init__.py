"""Pinned JVM artifacts from Maven Central, fetched once into `jvm.jars_dir`, and the Java that runs them.

Each artifact set is a POM beside this module (`<name>.pom.xml`) that pins exact versions. Maven's
dependency plugin copies the set's jars with their runtime dependencies into `<jars_dir>/<name>/`, which
is marked with the POM's digest: after the first fetch nothing needs the network, and a changed pin
fetches again. Concurrent fetches of one set wait for each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from fraudguard.config import Settings

KAFKA_BROKER = "kafka-broker"
SPARK_KAFKA = "spark-kafka"
ARTIFACT_SETS = (KAFKA_BROKER, SPARK_KAFKA)
_MARKER = ".fetched"
_DEPENDENCY_PLUGIN = "dependency:copy-dependencies"


class JvmError(RuntimeError):
    """Java or Maven is missing, or a fetch failed: the message says what to do."""


@dataclass(frozen=True)
class Fetched:
    name: str
    folder: Path
    jars: int
    size_bytes: int
    seconds: float
    fetched_now: bool  # False: the cache already held this POM's jars


def pom(name: str) -> Path:
    path = Path(__file__).with_name(f"{name}.pom.xml")
    if not path.is_file():
        raise JvmError(f"unknown artifact set {name!r}: expected one of {', '.join(ARTIFACT_SETS)}")
    return path


def jars_folder(settings: Settings, name: str) -> Path:
    return settings.jvm.jars_dir / name


def is_fetched(settings: Settings, name: str) -> bool:
    marker = jars_folder(settings, name) / _MARKER
    return marker.is_file() and marker.read_text().strip() == _digest(pom(name))


def fetch(settings: Settings, name: str) -> Fetched:
    """Copy the set's pinned jars into the cache unless it already holds them."""
    started = time.monotonic()
    folder = jars_folder(settings, name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fetched_now = not is_fetched(settings, name)
        if fetched_now:
            _copy_dependencies(name, folder)
    jars = list(folder.glob("*.jar"))
    return Fetched(
        name,
        folder,
        len(jars),
        sum(jar.stat().st_size for jar in jars),
        time.monotonic() - started,
        fetched_now,
    )


def classpath(settings: Settings, name: str) -> str:
    """The set's classpath (a wildcard over its folder), fetching it first if needed."""
    return str(fetch(settings, name).folder / "*")


def jar_paths(settings: Settings, name: str) -> list[str]:
    """The set's jars one by one (for `spark.jars`), fetching them first if needed."""
    return sorted(str(jar) for jar in fetch(settings, name).folder.glob("*.jar"))


def java_executable(settings: Settings) -> str:
    """`jvm.java_home`, else $JAVA_HOME, else `java` on the PATH."""
    home = settings.jvm.java_home or (Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None)
    if home is not None:
        java = home / "bin" / "java"
        if not os.access(java, os.X_OK):
            raise JvmError(f"no Java at {java} (from jvm.java_home or JAVA_HOME): expected a Java 17+ home")
        return str(java)
    found = shutil.which("java")
    if found is None:
        raise JvmError("Java 17+ is needed (for Kafka and Spark): install it or set jvm.java_home")
    return found


def _copy_dependencies(name: str, folder: Path) -> None:
    maven = shutil.which("mvn")
    if maven is None:
        raise JvmError(
            f"Maven (mvn) is needed once to fetch the {name} jars from Maven Central into {folder}: "
            "install it (Debian: apt-get install maven)"
        )
    staging = folder.with_name(f"{name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        maven, "--batch-mode", "--quiet", "-f", str(pom(name)), _DEPENDENCY_PLUGIN,
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        output = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise JvmError(
            f"fetching the {name} jars failed (mvn exit {done.returncode}): {' '.join(command)}\n"
            + "\n".join(output)
        )
    (staging / _MARKER).write_text(_digest(pom(name)))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
