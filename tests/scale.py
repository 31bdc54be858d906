"""Configs of many environments, as a platform team grows one: the example's dev copied N times.

Each copy has its own key, name, account and CIDR; all but the first wait for an approval. Used by the
scale test (tests/test_scale.py) and `make bench` (bench/scale_bench.py).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from config import DEFAULT_CONFIG_PATH


def many_environments(count: int, *, per_wave: int = 1) -> str:
    """The example config with `count` environments copied from its dev, as TOML text: the first alone, the
    rest in waves of `per_wave`, all but the first wave behind an approval."""
    text = DEFAULT_CONFIG_PATH.read_text()
    example = tomllib.loads(text)
    dev = example["environments"]["dev"]
    pipeline = "\n".join(f"{key} = {_value(value)}" for key, value in example["pipeline"].items())
    tables = [f"[pipeline]\n{pipeline}\n"]
    for number in range(1, count + 1):
        key = f"e{number:02}"
        fields = {
            **{k: v for k, v in dev.items() if not isinstance(v, dict)},
            "account": f"{100000000000 + number}",
            "environment_name": f"mwaa-{key}",
            "vpc_cidr": f"10.{number}.0.0/16",
            "wave": "w01" if number == 1 else f"w{(number - 2) // per_wave + 2:02}",
            "approval": number > 1,
        }
        tables.append(f"[environments.{key}]\n" + "\n".join(f"{k} = {_value(v)}" for k, v in fields.items()) + "\n")
    return "\n".join(tables)


def write_many_environments(count: int, folder: Path, *, per_wave: int = 1) -> Path:
    path = folder / f"environments-{count}.toml"
    path.write_text(many_environments(count, per_wave=per_wave))
    return path


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
