"""Reading environments.toml with the standard library alone: the DAG tools run where only boto3 is installed.

The file's checks (config/loader.py, on pydantic) run at every synth, so a commit reaches a pipeline's DAG
steps only with a config that passed them; the tools read it as it is. Defaults come from the generated JSON
schema (one definition: config/schema.py), and the objects are built by the same function the checked load
uses, so both read a file alike (tests/test_config_reader.py compares them).
"""

from __future__ import annotations

import ast
import functools
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config import rules
from config.model import EnvironmentConfig, PipelineConfig, ProjectConfig, StatementConfig, frozen_mapping

DEFAULT_CONFIG_PATH = Path(__file__).with_name("environments.toml")
SCHEMA_PATH = Path(__file__).with_name("environments.schema.json")
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(Exception):
    """Raised with every problem found; `str()` is the message a user should see."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{len(problems)} problem(s) in {source}:"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def read_toml(path: Path | str | None = None) -> tuple[dict[str, Any], str]:
    """The file's TOML and the name to report it by; a file that cannot be read or parsed is one problem."""
    config_path = Path(path) if path else DEFAULT_CONFIG_PATH
    source = str(config_path)
    try:
        raw = config_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, ["the file does not exist"]) from None
    except IsADirectoryError:
        raise ConfigError(source, ["is a folder; give the path of a .toml file"]) from None
    except OSError as error:
        raise ConfigError(source, [f"cannot be read: {error.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(source, [f"is not UTF-8 text (byte {error.start + 1}, line {line})"]) from None
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [f"not valid TOML: {_toml_message(error, text)}"]) from None


@functools.cache
def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))


def defaults(table: str) -> dict[str, Any]:
    """A table's declared defaults ("Environment", "Pipeline", "LogLevels"), from the generated schema."""
    properties = _schema()["$defs"][table]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def with_defaults(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {**defaults(table), **values}


def build_environment(stage: str, given: Mapping[str, Any]) -> EnvironmentConfig:
    """The environment a table describes (values as written; left-out keys take their defaults)."""
    values = with_defaults("Environment", given)
    name = values.get("environment_name") or f"mwaa-{stage}"
    account, region = values["account"], values["region"]
    per_class = 1 if values["environment_class"] == "mw1.micro" else 2
    existing_vpc = "vpc_id" in values
    prefix = values.get("secrets_manager_prefix")
    return EnvironmentConfig(
        stage=stage,
        account=account,
        region=region,
        environment_name=name,
        bucket_name=values.get("bucket_name") or derived_bucket_name(name, account, region),
        airflow_version=values["airflow_version"],
        environment_class=values["environment_class"],
        min_workers=values["min_workers"],
        max_workers=values["max_workers"],
        max_workers_quota_acknowledged=values["max_workers_quota_acknowledged"],
        schedulers=values.get("schedulers", per_class),
        min_webservers=values.get("min_webservers", per_class),
        max_webservers=values.get("max_webservers", per_class),
        webserver_access_mode=values.get(
            "webserver_access_mode", "PRIVATE_ONLY" if values["protected"] else "PUBLIC_ONLY"
        ),
        weekly_maintenance_window_start=values["weekly_maintenance_window_start"],
        airflow_configuration_options=frozen_mapping(
            {
                **rules.DEFAULT_AIRFLOW_OPTIONS,
                **rules.secrets_backend_options(prefix),
                **values["airflow_configuration_options"],
            }
        ),
        log_levels=frozen_mapping(with_defaults("LogLevels", values["log_levels"])),
        vpc_cidr=None if existing_vpc else values["vpc_cidr"],
        availability_zones=tuple(values["availability_zones"]),
        nat_gateways=0 if existing_vpc else values["nat_gateways"],
        endpoints=values["endpoints"],
        endpoint_management=values["endpoint_management"],
        vpc_id=values.get("vpc_id"),
        private_subnet_ids=tuple(values["private_subnet_ids"]) if existing_vpc else (),
        private_route_table_ids=tuple(values["private_route_table_ids"]) if existing_vpc else (),
        tags=frozen_mapping(values["tags"]),
        wave=values.get("wave", stage),
        approval=values["approval"],
        protected=values["protected"],
        allow_replacement=values["allow_replacement"],
        worker_replacement_strategy=values["worker_replacement_strategy"],
        kms_key=values.get("kms_key"),
        execution_role_managed_policies=tuple(values["execution_role_managed_policies"]),
        execution_role_statements=tuple(
            StatementConfig(tuple(s["actions"]), tuple(s["resources"])) for s in values["execution_role_statements"]
        ),
        secrets_manager_prefix=prefix,
        web_access=MappingProxyType({role: tuple(arns) for role, arns in values["web_access"].items()}),
        files_dir=REPOSITORY_ROOT / values.get("files_dir", f"mwaa/{stage}"),
        log_retention_days=values["log_retention_days"],
        alarm_topic=values.get("alarm_topic"),
        queued_tasks_alarm_threshold=values["queued_tasks_alarm_threshold"],
    )


def derived_bucket_name(environment_name: str, account: str, region: str) -> str:
    return f"{environment_name.lower().replace('_', '-')}-{account}-{region}"


def build_pipeline(given: Mapping[str, Any]) -> PipelineConfig:
    values = with_defaults("Pipeline", given)
    return PipelineConfig(
        name=values["name"],
        account=values["account"],
        region=values["region"],
        repository=values["repository"],
        branch=values["branch"],
        connection_arn=values["connection_arn"],
        notification_topic=values["notification_topic"],
    )


def read_config(path: Path | str | None = None) -> ProjectConfig:
    """The config as the tools need it, without the checks (a synth runs them). A file too broken to read
    still gets a ConfigError, never a traceback, pointing at the command that explains it."""
    data, source = read_toml(path)
    try:
        return ProjectConfig(
            pipeline=build_pipeline(data["pipeline"]),
            environments=tuple(build_environment(key, table) for key, table in data["environments"].items()),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ConfigError(
            source, [f"cannot be read ({type(error).__name__}: {error}); `make synth` lists every problem"]
        ) from None


_OVERWRITE = re.compile(r"Cannot overwrite a value \(at line (?P<line>[0-9]+), column [0-9]+\)")
_REDECLARED = re.compile(r"Cannot declare \((?P<keys>.*)\) twice \(at line (?P<line>[0-9]+), column [0-9]+\)")
_TABLE_HEADER = re.compile(r"\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(#.*)?")


def _toml_message(error: tomllib.TOMLDecodeError, text: str) -> str:
    """tomllib's message, naming the key when it is a duplicate (tomllib gives only a line)."""
    redeclared = _REDECLARED.fullmatch(str(error))
    if redeclared:
        declared = ".".join(ast.literal_eval(f"({redeclared['keys']})"))
        return f"duplicate table [{declared}] at line {redeclared['line']}: each table may be declared only once"
    match = _OVERWRITE.fullmatch(str(error))
    if not match:
        return str(error)
    lines = text.splitlines()
    number = int(match["line"])
    key = lines[number - 1].split("=", 1)[0].strip() if number <= len(lines) else ""
    table = next(
        (str(m["name"]) for line in reversed(lines[: number - 1]) if (m := _TABLE_HEADER.fullmatch(line))),
        None,
    )
    dotted = f"{table}.{key}" if table else key
    return f"duplicate key {dotted!r} at line {number}: a key may be set only once"
