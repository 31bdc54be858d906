"""Config, as the pipeline's steps read it: they are told an environment's key and read the rest.

The pipeline's actions pass only keys (its definition stays small however many environments there
are); the values come from the config of the same commit the pipeline was synthesized from.
"""

from __future__ import annotations

import functools
import os
import sys

from config import ConfigError, EnvironmentConfig, ProjectConfig, UnknownEnvironmentError, read_config


@functools.cache
def project() -> ProjectConfig:
    try:
        return read_config(os.environ.get("MWAA_CONFIG"))
    except ConfigError as error:
        sys.exit(f"error: {error}")


def environment(key: str) -> EnvironmentConfig:
    try:
        return project().environment(key)
    except UnknownEnvironmentError as error:
        sys.exit(f"error: {error}")
