"""argparse types for the dagtools commands: a bad option is refused, naming it, before any request."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from dagtools.sync.engine import SafetyError

MAX_CONCURRENCY = 64
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)


def option(check: Callable[[str], Any], allowed: str) -> Callable[[str], Any]:
    """An argparse type: the checked value, or argparse's own error naming the option and what is allowed."""

    def parse(text: str) -> Any:
        try:
            value = check(text)
        except (ValueError, SafetyError):
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; {allowed}")
        return value

    return parse


ROLE_ARN_OPTION = option(lambda t: t if ROLE_ARN.fullmatch(t) else None, "must be an IAM role ARN")


def whole_number(low: int, high: int) -> Callable[[str], int | None]:
    return lambda text: int(text) if re.fullmatch("[0-9]+", text, re.ASCII) and low <= int(text) <= high else None


def bucket_name(text: str) -> str | None:
    from config.rules import bucket_name_problem

    return None if bucket_name_problem(text) else text


def region_code(text: str) -> str | None:
    from config.rules import known_regions

    return text if text in known_regions() else None


def positive_seconds(text: str) -> float | None:
    value = float(text)
    return value if 0 < value < 3600 else None


def environment_keys() -> str:
    """The environment keys config defines, for help texts ("dev, prod"): read from the TOML alone, not
    validated, so building the parser stays cheap; "KEY" when config cannot be read."""
    import os
    import tomllib

    from config import DEFAULT_CONFIG_PATH

    try:
        with open(os.environ.get("MWAA_CONFIG") or DEFAULT_CONFIG_PATH, "rb") as file:
            keys = list(tomllib.load(file).get("environments", {}))
    except (OSError, ValueError):
        return "KEY"
    return "{" + ",".join(keys) + "}" if keys else "KEY"
