"""Reads the YAML file, applies environment overrides and validates once, before anything starts.

Environment overrides: `FRAUDGUARD__<KEY>__<SUBKEY>...=value` sets that key path, e.g.
`FRAUDGUARD__KAFKA__BOOTSTRAP_SERVERS=broker1:9092` or `FRAUDGUARD__TOPICS__TRANSACTIONS__PARTITIONS=12`.
A value starting with `{` or `[` is parsed as YAML (for mappings and lists), an empty value means
null, anything else is a string that validation converts to the key's type.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from fraudguard.config.errors import ConfigError, format_validation_error
from fraudguard.config.model import RUNTIME_DIR, Settings

ENV_PREFIX = "FRAUDGUARD__"
CONFIG_PATH_VAR = "FRAUDGUARD_CONFIG"
DEFAULT_CONFIG_NAME = Path("config") / "platform.yaml"


def default_config_path() -> Path:
    """`$FRAUDGUARD_CONFIG`, else ./config/platform.yaml, else the one in this source checkout."""
    if os.environ.get(CONFIG_PATH_VAR):
        return Path(os.environ[CONFIG_PATH_VAR])
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    if local.is_file():
        return local
    return Path(__file__).resolve().parents[3] / DEFAULT_CONFIG_NAME


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate; raise ConfigError naming the file or variable, the key and the expectation."""
    path = Path(path) if path else default_config_path()
    environ = os.environ if environ is None else environ
    raw = _read_yaml(path)
    _refuse_secrets_in_file(raw, path)
    source_of: dict[tuple[str, ...], str] = {(): str(path)}
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            key_path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            if not all(key_path):
                raise ConfigError(f"environment variable {name}: expected FRAUDGUARD__KEY__SUBKEY")
            _set_path(raw, key_path, _parse_env_value(value), name)
            source_of[key_path] = f"environment variable {name}"
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, Settings, source_of)) from None
    base = path.resolve().parent
    runtime_dir = _resolve(base, settings.runtime_dir)
    model = settings.model.model_copy(
        update={
            "export_dir": _resolve(base, settings.model.export_dir),
            "bootstrap_dir": _resolve(base, settings.model.bootstrap_dir),
        }
    )
    stream = settings.stream.model_copy(
        update={
            "scored_history_dir": _located(base, runtime_dir, settings.stream.scored_history_dir),
            "state_uri": _state_uri(base, runtime_dir, settings.stream.state_uri),
        }
    )
    alerts = settings.alerts.model_copy(
        update={
            "database_url": settings.alerts.database_url.replace(RUNTIME_DIR, str(runtime_dir)),
            "labels_path": _located(base, runtime_dir, settings.alerts.labels_path),
        }
    )
    mlflow = settings.mlflow.model_copy(
        update={"tracking_uri": settings.mlflow.tracking_uri.replace(RUNTIME_DIR, str(runtime_dir))}
    )
    airflow = settings.airflow.model_copy(
        update={
            "home": _located(base, runtime_dir, settings.airflow.home),
            "dags_folder": _resolve(base, settings.airflow.dags_folder),
        }
    )
    java_home = settings.jvm.java_home
    jvm = settings.jvm.model_copy(
        update={
            "jars_dir": _resolve(base, settings.jvm.jars_dir),
            "java_home": _resolve(base, java_home) if java_home else None,
        }
    )
    return settings.model_copy(
        update={
            "runtime_dir": runtime_dir,
            "jvm": jvm,
            "model": model,
            "stream": stream,
            "mlflow": mlflow,
            "alerts": alerts,
            "airflow": airflow,
        }
    )


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def _located(base: Path, runtime_dir: Path, path: Path | str) -> Path:
    """A location: `{runtime_dir}` replaced, then relative to the config file's folder."""
    return _resolve(base, Path(str(path).replace(RUNTIME_DIR, str(runtime_dir))))


def _state_uri(base: Path, runtime_dir: Path, uri: str) -> str:
    """A URI as it is (hdfs:, s3a:, file:), a local path as a file: URI."""
    return uri if urlparse(uri).scheme else _located(base, runtime_dir, uri).as_uri()


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: (top level): expected a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def _refuse_secrets_in_file(raw: dict[str, Any], path: Path) -> None:
    for key_path in secret_key_paths(Settings):
        node: Any = raw
        for key in key_path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            variable = ENV_PREFIX + "__".join(key_path).upper()
            raise ConfigError(
                f"{path}: {'.'.join(key_path)}: secrets are not read from files; "
                f"set the environment variable {variable} instead"
            )


def secret_key_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths of every SecretStr field, found by walking the settings model."""
    found = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += secret_key_paths(field.annotation, (*prefix, name))
        elif SecretStr in get_args(field.annotation) or field.annotation is SecretStr:
            found.append((*prefix, name))
    return found


def _parse_env_value(value: str) -> Any:
    if value == "":
        return None
    if value.lstrip().startswith(("{", "[")):
        return yaml.safe_load(value)
    return value


def _set_path(tree: dict[str, Any], key_path: tuple[str, ...], value: Any, var: str) -> None:
    node = tree
    for depth, key in enumerate(key_path[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(key_path[: depth + 1])
            raise ConfigError(f"environment variable {var}: {where} is not a mapping in the config")
        node = child
    node[key_path[-1]] = value
