"""Read environments.toml into typed objects, reporting every problem at once.

Each problem names the environment, the field, the value found and what is allowed, so a
wrong value is fixed in one edit instead of one synth per typo.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import ipaddress
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config import rules
from config.model import (
    ENVIRONMENT_NAME_MAX_FOR_IAM,
    IAM_NAME_MAX,
    LOG_TYPES,
    ROLE_NAME_SUFFIXES,
    EnvironmentConfig,
    PipelineConfig,
    ProjectConfig,
    StatementConfig,
    frozen_mapping,
)
from config.mwaa_reserved import reserved_problem

DEFAULT_CONFIG_PATH = Path(__file__).with_name("environments.toml")
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
BOUNDARY_PATH = REPOSITORY_ROOT / "bootstrap" / "permissions-boundary.json"

_REQUIRED = object()


class ConfigError(Exception):
    """Raised with every problem found; `str()` is the message a user should see."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{len(problems)} problem(s) in {source}:"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class _Table:
    """Typed access to one TOML table that records problems instead of raising."""

    def __init__(self, data: Mapping[str, Any], where: str, problems: list[str]) -> None:
        self._data = data
        self._where = where
        self._problems = problems
        self._seen: set[str] = set()

    def problem(self, key: str, value: Any, allowed: str) -> None:
        self._problems.append(f"{self._where}: {key} = {value!r} is not allowed; {allowed}")

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        """The value of `key` if it has type `kind`, else the default (or None after a problem)."""
        self._seen.add(key)
        if key not in self._data:
            if default is _REQUIRED:
                self._problems.append(f"{self._where}: {key} is missing")
                return None
            return default
        value = self._data[key]
        # bool is an int in Python; a `true` where a number belongs is still a mistake.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(key, value, f"must be {_KIND_NAMES.get(kind, kind.__name__)}")
            return None
        return value

    def check(self, key: str, value: Any, ok: Callable[[Any], object], allowed: str) -> Any:
        if value is not None and not ok(value):
            self.problem(key, value, allowed)
            return None
        return value

    def string_map(self, key: str) -> dict[str, str]:
        table = self.get(key, dict, {})
        if table is None:
            return {}
        result = {}
        for name, value in table.items():
            if isinstance(value, str):
                result[name] = value
            else:
                self.problem(f"{key}.{name}", value, "values must be strings (quote numbers and booleans)")
        return result

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, *keys: str) -> Any:
        """The values as written, for a problem about a combination of keys."""
        found = {k: self._data[k] for k in keys if k in self._data}
        return found[keys[0]] if len(keys) == 1 else found

    def reject_unknown(self) -> None:
        for key in self._data:
            if key not in self._seen:
                known = ", ".join(sorted(self._seen))
                self._problems.append(f"{self._where}: unknown key {key!r} (known keys: {known})")


_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a table"}


def _read_region(t: _Table, services: tuple[str, ...], purpose: str) -> Any:
    """A region code botocore knows, offering every service in `services` (offline endpoint data); None after a
    problem, like `_Table.check`."""
    region = t.get("region", str)
    if region is None:
        return None
    if region not in rules.known_regions():
        t.problem("region", region, "must be an AWS region code such as eu-west-1 (botocore's region list)")
        return None
    missing = rules.services_missing(region, services)
    if missing:
        t.problem("region", region, f"does not offer {', '.join(missing)}, which {purpose} needs")
        return None
    return region


def _read_tags(t: _Table) -> dict[str, str]:
    """Tags as AWS takes them, leaving room for the tags CDK adds to some resources itself."""
    tags = t.string_map("tags")
    if len(tags) > rules.MAX_USER_TAGS:
        t.problem(
            "tags",
            f"{len(tags)} tags",
            f"at most {rules.MAX_USER_TAGS}: AWS allows {rules.MAX_TAGS_PER_RESOURCE} per resource and CDK adds up to "
            f"{rules.CDK_OWN_TAGS} of its own",
        )
    seen: dict[str, str] = {}
    for key, value in tags.items():
        problem = rules.tag_problem(key, value)
        if problem:
            t.problem(f"tags.{key}", value, problem)
        if key.lower() in seen:
            t.problem(
                f"tags.{key}", value, f"IAM treats tag keys case-insensitively; {seen[key.lower()]!r} is already set"
            )
        seen.setdefault(key.lower(), key)
    return tags


def _one_of(values: tuple[str, ...]) -> str:
    return "must be one of " + ", ".join(values)


def _read_environment(stage: str, data: Any, problems: list[str]) -> EnvironmentConfig | None:
    where = f"environment {stage!r}"
    if not isinstance(data, dict):
        problems.append(f"{where}: must be a table ([environments.{stage}])")
        return None
    t = _Table(data, where, problems)
    before = len(problems)

    if not rules.STAGE_NAME.fullmatch(stage):
        problems.append(
            f"{where}: the environment key {stage!r} is not allowed; use lowercase letters, digits and "
            "hyphens, starting with a letter, at most 20 characters (it prefixes the stack names)"
        )

    account = t.check("account", t.get("account", str), rules.ACCOUNT.fullmatch, "must be 12 digits (0-9)")
    region = _read_region(t, rules.ENVIRONMENT_SERVICES, "an MWAA environment")
    name = t.check(
        "environment_name",
        t.get("environment_name", str, f"mwaa-{stage}"),
        rules.ENVIRONMENT_NAME.fullmatch,
        "must start with a letter and contain only letters, digits, '-' and '_'",
    )
    if name is not None and len(name) > ENVIRONMENT_NAME_MAX_FOR_IAM:
        longest = max(ROLE_NAME_SUFFIXES, key=len)
        t.problem(
            "environment_name",
            name,
            f"must be at most {ENVIRONMENT_NAME_MAX_FOR_IAM} characters, so the role names derived from it "
            f"(the longest: <name>{longest}) fit IAM's {IAM_NAME_MAX}",
        )
        name = None

    bucket = t.get("bucket_name", str, "")
    bucket_key = "bucket_name"
    if not bucket and name and account and region:
        bucket = f"{name.lower().replace('_', '-')}-{account}-{region}"
        bucket_key = "bucket_name (derived from environment_name, account and region; set it explicitly)"
    if bucket:
        bucket_error = rules.bucket_name_problem(bucket)
        if bucket_error:
            t.problem(bucket_key, bucket, bucket_error)

    version = t.check(
        "airflow_version",
        t.get("airflow_version", str, rules.DEFAULT_AIRFLOW_VERSION),
        lambda v: v in rules.AIRFLOW_VERSIONS,
        _one_of(rules.AIRFLOW_VERSIONS) + " (the Airflow 3 versions MWAA offers)",
    )
    env_class = t.check(
        "environment_class",
        t.get("environment_class", str, "mw1.small"),
        lambda v: v in rules.ENVIRONMENT_CLASSES,
        _one_of(rules.ENVIRONMENT_CLASSES),
    )
    micro = env_class == "mw1.micro"

    quota_ok = t.get("max_workers_quota_acknowledged", bool, False)
    min_workers = t.check("min_workers", t.get("min_workers", int, 1), lambda v: v >= 1, "must be at least 1")
    max_workers = t.check("max_workers", t.get("max_workers", int, 2), lambda v: v >= 1, "must be at least 1")
    if min_workers is not None and max_workers is not None and min_workers > max_workers:
        t.problem("min_workers", min_workers, f"must not exceed max_workers ({max_workers})")
    if max_workers is not None and max_workers > rules.DEFAULT_WORKER_QUOTA and not quota_ok:
        t.problem(
            "max_workers",
            max_workers,
            f"above {rules.DEFAULT_WORKER_QUOTA} (the default MWAA quota) only with "
            "max_workers_quota_acknowledged = true after raising the quota",
        )
    if micro and max_workers not in (None, 1):
        t.problem("max_workers", max_workers, "must be 1 on mw1.micro (one combined scheduler and worker)")

    low, high = (1, 1) if micro else (2, 5)
    span = f"must be from {low} to {high} on {env_class}" if low != high else f"must be 1 on {env_class}"
    schedulers = t.check("schedulers", t.get("schedulers", int, low), lambda v: low <= v <= high, span)
    min_web = t.check("min_webservers", t.get("min_webservers", int, low), lambda v: low <= v <= high, span)
    max_web = t.check("max_webservers", t.get("max_webservers", int, low), lambda v: low <= v <= high, span)
    if min_web is not None and max_web is not None and min_web > max_web:
        t.problem("min_webservers", min_web, f"must not exceed max_webservers ({max_web})")

    access_mode = t.check(
        "webserver_access_mode",
        t.get("webserver_access_mode", str, "PRIVATE_ONLY" if data.get("protected") is True else "PUBLIC_ONLY"),
        lambda v: v in rules.ACCESS_MODES,
        _one_of(rules.ACCESS_MODES),
    )
    if access_mode == "PUBLIC_AND_PRIVATE" and version and rules.version_tuple(version) < (3, 2):
        t.problem("webserver_access_mode", access_mode, f"needs Airflow 3.2 or later (airflow_version is {version})")

    window = t.check(
        "weekly_maintenance_window_start",
        t.get("weekly_maintenance_window_start", str, "SUN:03:00"),
        rules.MAINTENANCE_WINDOW.fullmatch,
        "must be DAY:HH:MM in UTC with DAY one of MON..SUN and MM 00 or 30 (for example SUN:03:00)",
    )

    options = t.string_map("airflow_configuration_options")
    for key, value in options.items():
        if not (rules.AIRFLOW_OPTION_KEY.fullmatch(key) and "." in key and len(key) <= 64):
            t.problem(
                "airflow_configuration_options",
                key,
                "keys must be 'section.option' in lowercase letters, digits, '.' and '_', at most 64 characters",
            )
        elif version and (reserved := reserved_problem(key, version)):
            t.problem("airflow_configuration_options", key, reserved)
        if not rules.AIRFLOW_OPTION_VALUE.fullmatch(value):
            t.problem(
                f"airflow_configuration_options.{key}",
                value if len(value) <= 80 else value[:80] + "...",
                "values must be 1 to 65,536 printable ASCII characters (MWAA refuses an empty value)",
            )

    log_levels = _read_log_levels(t, where, problems)

    network = _read_network(t, region)

    tags = _read_tags(t)
    wave = t.check(
        "wave",
        t.get("wave", str, stage),
        rules.STAGE_NAME.fullmatch,
        "must be lowercase letters, digits and hyphens, starting with a letter, at most 20 characters",
    )
    approval = t.get("approval", bool, False)
    protected = t.get("protected", bool, False)
    allow_replacement = t.get("allow_replacement", bool, False)
    strategy = t.check(
        "worker_replacement_strategy",
        t.get("worker_replacement_strategy", str, "GRACEFUL"),
        lambda v: v in rules.WORKER_REPLACEMENT_STRATEGIES,
        _one_of(rules.WORKER_REPLACEMENT_STRATEGIES),
    )
    retention = t.check(
        "log_retention_days",
        t.get("log_retention_days", int, 365),
        lambda v: v in rules.LOG_RETENTION_DAYS,
        "must be a period CloudWatch Logs offers: " + ", ".join(map(str, rules.LOG_RETENTION_DAYS)),
    )
    alarm_topic = t.check(
        "alarm_topic",
        t.get("alarm_topic", str, None),
        rules.SNS_TOPIC_NAME.fullmatch,
        "must be an SNS topic name: letters, digits, '-' and '_', at most 256 characters",
    )
    queued_threshold = t.check(
        "queued_tasks_alarm_threshold",
        t.get("queued_tasks_alarm_threshold", int, 50),
        lambda v: v >= 1,
        "must be at least 1",
    )
    kms_key = t.get("kms_key", str, None)
    if kms_key not in (None, "create"):
        match = rules.KMS_KEY_ARN.fullmatch(kms_key)
        if not match:
            t.problem("kms_key", kms_key, 'must be "create" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)')
        elif region and match["region"] != region:
            t.problem(
                "kms_key", kms_key, f"must be a key in the environment's region {region} (MWAA and S3 need it there)"
            )
    access = _read_role_extensions(t, account)
    files_dir = _read_files_dir(t, stage)
    t.reject_unknown()

    if len(problems) > before:
        return None
    return EnvironmentConfig(
        stage=stage,
        account=account,
        region=region,
        environment_name=name,
        bucket_name=bucket,
        airflow_version=version,
        environment_class=env_class,
        min_workers=min_workers,
        max_workers=max_workers,
        max_workers_quota_acknowledged=quota_ok,
        schedulers=schedulers,
        min_webservers=min_web,
        max_webservers=max_web,
        webserver_access_mode=access_mode,
        weekly_maintenance_window_start=window,
        airflow_configuration_options=frozen_mapping(
            {
                **rules.DEFAULT_AIRFLOW_OPTIONS,
                **rules.secrets_backend_options(access["secrets_manager_prefix"]),
                **options,
            }
        ),
        log_levels=frozen_mapping(log_levels),
        **network,
        tags=frozen_mapping(tags),
        wave=wave,
        approval=approval,
        protected=protected,
        allow_replacement=allow_replacement,
        worker_replacement_strategy=strategy,
        kms_key=kms_key,
        **access,
        files_dir=files_dir,
        log_retention_days=retention,
        alarm_topic=alarm_topic,
        queued_tasks_alarm_threshold=queued_threshold,
    )


def _read_files_dir(t: _Table, stage: str) -> Path:
    """The environment's folder of requirements.txt, plugins/ and startup.sh: inside the repository.

    The files become CDK assets uploaded to the environment's bucket, so a path or link leaving
    the repository could publish anything on the build machine.
    """
    default = REPOSITORY_ROOT / "mwaa" / stage
    raw: str | None = t.get("files_dir", str, None)
    if raw is None:
        return default
    folder = REPOSITORY_ROOT / raw
    root = REPOSITORY_ROOT.resolve()
    inside = "must be a folder inside this repository, relative to its top, with no '..' and no link leading out"
    if not raw or Path(raw).is_absolute() or ".." in Path(raw).parts:
        t.problem("files_dir", raw, inside)
        return default
    if not (resolved := folder.resolve()).is_relative_to(root):
        t.problem("files_dir", raw, inside + f" (it resolves to {resolved})")
        return default
    if not folder.is_dir():
        t.problem("files_dir", raw, "must be an existing folder of this repository (relative to its top)")
        return default
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            t.problem("files_dir", raw, f"{path.relative_to(REPOSITORY_ROOT)} is a link leading out of the repository")
    return folder


def _read_network(t: _Table, region: str | None) -> dict[str, Any]:
    """A new VPC (vpc_cidr) or an existing one (vpc_id and its two private subnets), and its endpoints."""
    vpc_id = t.check(
        "vpc_id", t.get("vpc_id", str, None), rules.VPC_ID.fullmatch, "must look like vpc-0123456789abcdef0"
    )
    subnets = _id_list(t, "private_subnet_ids", rules.SUBNET_ID, "subnet-0123456789abcdef0")
    route_tables = _id_list(t, "private_route_table_ids", rules.ROUTE_TABLE_ID, "rtb-0123456789abcdef0")
    endpoints = t.get("endpoints", bool, False)
    management = t.check(
        "endpoint_management",
        t.get("endpoint_management", str, "SERVICE"),
        lambda v: v in rules.ENDPOINT_MANAGEMENT,
        _one_of(rules.ENDPOINT_MANAGEMENT),
    )
    zones = t.get("availability_zones", list)
    if zones is not None:
        zone_pattern = re.compile(re.escape(region or "") + "[a-z]", re.ASCII) if region else None
        if (
            not all(isinstance(z, str) for z in zones)
            or len(zones) != 2
            or len(set(zones)) != 2
            or (zone_pattern and not all(zone_pattern.fullmatch(z) for z in zones))
        ):
            t.problem(
                "availability_zones",
                zones,
                f"must be two different zones of {region or 'the region'} (MWAA takes exactly two private subnets)",
            )
            zones = None

    if vpc_id or t.has("vpc_id"):
        if t.has("vpc_cidr") or t.has("nat_gateways"):
            t.problem(
                "vpc_cidr",
                t.raw("vpc_cidr", "nat_gateways"),
                "leave out vpc_cidr and nat_gateways when vpc_id names an existing VPC",
            )
        t.get("vpc_cidr", str, None)
        t.get("nat_gateways", int, 0)
        if subnets is not None and len(subnets) != 2:
            t.problem("private_subnet_ids", subnets, "an existing VPC needs exactly two private subnet IDs, one per AZ")
        if endpoints and route_tables is not None and len(route_tables) == 0:
            t.problem(
                "private_route_table_ids",
                route_tables,
                "endpoints = true in an existing VPC needs the private subnets' route tables (for the S3 gateway)",
            )
        return {
            "vpc_cidr": None,
            "availability_zones": tuple(zones or ()),
            "nat_gateways": 0,
            "endpoints": endpoints,
            "endpoint_management": management,
            "vpc_id": vpc_id,
            "private_subnet_ids": tuple(subnets or ()),
            "private_route_table_ids": tuple(route_tables or ()),
        }

    for key in ("private_subnet_ids", "private_route_table_ids"):
        if t.has(key):
            t.problem(key, t.raw(key), "only with vpc_id (an existing VPC); a new VPC makes its own subnets")
    cidr = t.check("vpc_cidr", t.get("vpc_cidr", str), _cidr_ok, "must be a private IPv4 network from /16 to /22")
    nat = t.check("nat_gateways", t.get("nat_gateways", int, 1), lambda v: 0 <= v <= 2, "must be 0, 1 or 2")
    if nat == 0 and endpoints is False:
        t.problem(
            "nat_gateways",
            nat,
            "0 needs endpoints = true: without NAT or VPC endpoints MWAA cannot reach S3, SQS, CloudWatch or ECR",
        )
    return {
        "vpc_cidr": cidr,
        "availability_zones": tuple(zones or ()),
        "nat_gateways": nat,
        "endpoints": endpoints,
        "endpoint_management": management,
        "vpc_id": None,
        "private_subnet_ids": (),
        "private_route_table_ids": (),
    }


def _read_role_extensions(t: _Table, account: str | None) -> dict[str, Any]:
    """What DAGs may do beyond the MWAA policy, and who may log in to the UI with which Airflow role."""
    policies = t.get("execution_role_managed_policies", list, [])
    if policies is not None and not all(isinstance(p, str) and rules.MANAGED_POLICY_ARN.fullmatch(p) for p in policies):
        t.problem("execution_role_managed_policies", policies, "must be a list of IAM managed policy ARNs")
        policies = []
    statements = []
    boundary = _boundary_actions()
    for index, raw in enumerate(t.get("execution_role_statements", list, []) or []):
        where = f"execution_role_statements[{index}]"
        if not isinstance(raw, dict) or set(raw) != {"actions", "resources"}:
            t.problem(where, raw, "must be a table with exactly `actions` and `resources`, both lists of strings")
            continue
        actions, resources = raw["actions"], raw["resources"]
        if not (isinstance(actions, list) and actions and all(isinstance(a, str) for a in actions)):
            t.problem(f"{where}.actions", actions, "must be a non-empty list of IAM actions")
            continue
        for action in actions:
            if action == "*" or action.endswith(":*") or not rules.IAM_ACTION.fullmatch(action):
                t.problem(
                    f"{where}.actions", action, "must be one service action ('s3:GetObject'); no '*' or 'service:*'"
                )
            elif not any(fnmatch.fnmatchcase(action, allowed) for allowed in boundary):
                t.problem(
                    f"{where}.actions",
                    action,
                    "is outside the permissions boundary: add it to bootstrap/permissions-boundary.json and "
                    "update the policy in the account (scripts/bootstrap.sh environment KEY)",
                )
        if not (isinstance(resources, list) and resources and all(isinstance(r, str) and r for r in resources)):
            t.problem(f"{where}.resources", resources, "must be a non-empty list of ARNs")
            continue
        statements.append(StatementConfig(tuple(actions), tuple(resources)))
    prefix = t.check(
        "secrets_manager_prefix",
        t.get("secrets_manager_prefix", str, None),
        rules.SECRETS_PREFIX.fullmatch,
        "must be a Secrets Manager name prefix such as airflow (connections under airflow/connections/...)",
    )
    web_access: dict[str, tuple[str, ...]] = {}
    for airflow_role, principals in (t.get("web_access", dict, {}) or {}).items():
        key = f"web_access.{airflow_role}"
        if airflow_role not in rules.AIRFLOW_ROLES:
            t.problem("web_access", airflow_role, "keys must be Airflow roles: " + ", ".join(rules.AIRFLOW_ROLES))
        elif not isinstance(principals, list) or not all(
            isinstance(p, str) and rules.PRINCIPAL_ARN.fullmatch(p) for p in principals
        ):
            t.problem(key, principals, "must be a list of IAM role, user or account-root ARNs")
        elif account and any(p.split(":")[4] != account for p in principals):
            t.problem(key, principals, f"must be principals of the environment's account {account}")
        else:
            web_access[airflow_role] = tuple(principals)
    return {
        "execution_role_managed_policies": tuple(policies or ()),
        "execution_role_statements": tuple(statements),
        "secrets_manager_prefix": prefix,
        "web_access": MappingProxyType(web_access),
    }


@functools.cache
def _boundary_actions() -> tuple[str, ...]:
    """The actions the permissions boundary allows: a role can never use more than these."""
    document = json.loads(BOUNDARY_PATH.read_text())
    return tuple(a for s in document["Statement"] if s["Effect"] == "Allow" for a in _as_list(s["Action"]))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _id_list(t: _Table, key: str, pattern: re.Pattern[str], example: str) -> list[str] | None:
    values: list[str] | None = t.get(key, list, [])
    if values is not None and not all(isinstance(v, str) and pattern.fullmatch(v) for v in values):
        t.problem(key, values, f"must be a list of IDs like {example}")
        return None
    return values


def _read_log_levels(t: _Table, where: str, problems: list[str]) -> dict[str, str]:
    table = t.get("log_levels", dict, {})
    if table is None:
        return {}
    levels = _Table(table, f"{where} log_levels", problems)
    result = {}
    for log_type in LOG_TYPES:
        result[log_type] = levels.check(
            log_type,
            levels.get(log_type, str, rules.DEFAULT_LOG_LEVEL),
            lambda v: v in rules.LOG_LEVELS,
            _one_of(rules.LOG_LEVELS),
        )
    levels.reject_unknown()
    return result


def _cidr_ok(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        return False
    return network.version == 4 and network.is_private and 16 <= network.prefixlen <= 22


def _read_pipeline(data: Any, problems: list[str]) -> PipelineConfig | None:
    if data is None:
        return None
    where = "pipeline"
    t = _Table(data, where, problems)
    before = len(problems)
    name = t.check(
        "name",
        t.get("name", str, "mwaa-platform"),
        rules.PIPELINE_NAME.fullmatch,
        "must be lowercase letters, digits and '-', starting with a letter, at most 40 characters",
    )
    account = t.check("account", t.get("account", str), rules.ACCOUNT.fullmatch, "must be 12 digits (0-9)")
    region = _read_region(t, rules.PIPELINE_SERVICES, "the pipeline stack")
    repository = t.check(
        "repository",
        t.get("repository", str),
        rules.REPOSITORY.fullmatch,
        "must be 'owner/name' as the git host shows it (for example example-org/mwaa-platform)",
    )
    branch = t.check(
        "branch", t.get("branch", str, "main"), rules.BRANCH.fullmatch, "must be a branch name such as main"
    )
    connection_arn = t.check(
        "connection_arn",
        t.get("connection_arn", str),
        rules.CONNECTION_ARN.fullmatch,
        "must be a CodeConnections connection ARN, "
        "arn:aws:codeconnections:<region>:<account>:connection/<uuid> (create it first; see README)",
    )
    connection = rules.CONNECTION_ARN.fullmatch(connection_arn or "")
    if connection and account and connection["account"] != account:
        t.problem(
            "connection_arn",
            connection_arn,
            f"must be a connection of the tools account {account}: a connection is usable only in its own account",
        )
    topic = t.check(
        "notification_topic",
        t.get("notification_topic", str, "mwaa-delivery"),
        rules.SNS_TOPIC_NAME.fullmatch,
        "must be an SNS topic name: letters, digits, '-' and '_', at most 256 characters",
    )
    t.reject_unknown()
    if len(problems) > before:
        return None
    return PipelineConfig(
        name=name,
        account=account,
        region=region,
        repository=repository,
        branch=branch,
        connection_arn=connection_arn,
        notification_topic=topic,
    )


def parse_config(data: Mapping[str, Any], source: str = "config") -> ProjectConfig:
    """Validate already-parsed TOML; raises ConfigError listing every problem."""
    problems: list[str] = []
    top = _Table(data, "top level", problems)
    pipeline = _read_pipeline(top.get("pipeline", dict), problems)
    envs_table = top.get("environments", dict)
    top.reject_unknown()
    environments = []
    if envs_table is not None and not envs_table:
        problems.append("top level: [environments] is empty; define at least one environment")
    for stage, env_data in (envs_table or {}).items():
        env = _read_environment(stage, env_data, problems)
        if env:
            environments.append(env)
    _check_unique(environments, problems)
    problems += rules.pipeline_limit_problems(
        [(e.stage, e.wave, e.approval, e.network_waits_for_storage) for e in environments]
    )
    if environments and len(environments) == len(envs_table or {}) and not any(e.approval for e in environments):
        problems.append(
            "environments: approval is set on no environment; set approval = true on at least the production "
            "environment, so nothing reaches it without a person's approval"
        )
    if problems:
        raise ConfigError(source, problems)
    assert pipeline is not None  # a missing [pipeline] table is a problem reported above
    return ProjectConfig(pipeline=pipeline, environments=tuple(environments))


def _check_unique(environments: list[EnvironmentConfig], problems: list[str]) -> None:
    """Names that must not repeat: role names per account (IAM is global and case-insensitive), buckets."""
    seen_env: dict[tuple[str, str], EnvironmentConfig] = {}
    seen_bucket: dict[str, str] = {}
    for env in environments:
        key = (env.account, env.environment_name.lower())
        if key in seen_env:
            first = seen_env[key]
            problems.append(
                f"environment {env.stage!r}: environment_name = {env.environment_name!r} in account {env.account} "
                f"is already used by environment {first.stage!r} (region {first.region}); the roles named after it "
                f"({env.execution_role_name}, ...) live in IAM, which is global to the account and ignores case, "
                "so each environment of an account needs its own name, whatever its region"
            )
        seen_env.setdefault(key, env)
        if env.bucket_name in seen_bucket:
            problems.append(
                f"environment {env.stage!r}: bucket_name = {env.bucket_name!r} is already used by "
                f"environment {seen_bucket[env.bucket_name]!r}; bucket names are global"
            )
        seen_bucket.setdefault(env.bucket_name, env.stage)


def load_config(path: Path | str | None = None) -> ProjectConfig:
    """Load and validate the config file (default: config/environments.toml)."""
    config_path = Path(path) if path else DEFAULT_CONFIG_PATH
    try:
        raw = config_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(config_path), ["the file does not exist"]) from None
    except IsADirectoryError:
        raise ConfigError(str(config_path), ["is a folder; give the path of a .toml file"]) from None
    except OSError as error:
        raise ConfigError(str(config_path), [f"cannot be read: {error.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(str(config_path), [f"is not UTF-8 text (byte {error.start + 1}, line {line})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(config_path), [f"not valid TOML: {_toml_message(error, text)}"]) from None
    return parse_config(data, str(config_path))


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
