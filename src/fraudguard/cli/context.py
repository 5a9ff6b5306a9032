"""What every command shares: the settings, loaded once and only when a command needs them."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from rich.console import Console

from fraudguard.config import ConfigError, Settings, default_config_path, load_settings
from fraudguard.paths import keep_private

console = Console(soft_wrap=True)


class CliError(Exception):
    """An expected failure: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CliContext:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = Path(config_path) if config_path else default_config_path()
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its INFO lines are noise at a terminal

    @cached_property
    def settings(self) -> Settings:
        try:
            settings = load_settings(self.config_path)
        except ConfigError as error:
            raise CliError(str(error), exit_code=2) from None
        keep_private(settings.runtime_dir)
        return settings
