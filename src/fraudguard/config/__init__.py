"""Typed, validated platform settings: loaded from config/ YAML plus FRAUDGUARD__* overrides."""

from fraudguard.config.errors import ConfigError
from fraudguard.config.loader import CONFIG_PATH_VAR, ENV_PREFIX, default_config_path, load_settings
from fraudguard.config.model import LOCAL_BROKER, Settings, TopicRole, TopicSettings

__all__ = [
    "CONFIG_PATH_VAR",
    "ENV_PREFIX",
    "LOCAL_BROKER",
    "ConfigError",
    "Settings",
    "TopicRole",
    "TopicSettings",
    "default_config_path",
    "load_settings",
]
