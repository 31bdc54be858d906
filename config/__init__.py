"""Per-environment configuration: typed, validated, standard library only."""

from config.loader import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from config.model import (
    DAGS_PREFIX,
    LOG_TYPES,
    EnvironmentConfig,
    PipelineConfig,
    ProjectConfig,
    StatementConfig,
    UnknownEnvironmentError,
)

__all__ = [
    "DAGS_PREFIX",
    "DEFAULT_CONFIG_PATH",
    "LOG_TYPES",
    "ConfigError",
    "EnvironmentConfig",
    "PipelineConfig",
    "ProjectConfig",
    "StatementConfig",
    "UnknownEnvironmentError",
    "load_config",
    "parse_config",
]
