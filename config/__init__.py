"""Per-environment configuration: typed, immutable objects read from environments.toml.

`load_config` checks every field (pydantic and the domain rules in config/loader.py): the app's synth and
the tests use it. `read_config` reads with the standard library alone (config/reader.py): the DAG tools use
it where only boto3 is installed. Importing this package costs neither pydantic nor the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.model import (
    DAGS_PREFIX,
    LOG_TYPES,
    EnvironmentConfig,
    PipelineConfig,
    ProjectConfig,
    StatementConfig,
    UnknownEnvironmentError,
)
from config.reader import DEFAULT_CONFIG_PATH, ConfigError, read_config


def load_config(path: Path | str | None = None) -> ProjectConfig:
    """Read and check the config file (default: config/environments.toml); ConfigError lists every problem."""
    from config.loader import load_config as checked

    return checked(path)


def parse_config(data: Mapping[str, Any], source: str = "config") -> ProjectConfig:
    """Check already-parsed TOML; ConfigError lists every problem."""
    from config.loader import parse_config as checked

    return checked(data, source)


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
    "read_config",
]
