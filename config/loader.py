"""Read environments.toml into typed objects, reporting every problem at once.

Each problem names the environment, the field, the value found and what is allowed, so a
wrong value is fixed in one edit instead of one synth per typo.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config import rules, schema
from config.model import (
    ENVIRONMENT_NAME_MAX_FOR_IAM,
    IAM_NAME_MAX,
    ROLE_NAME_SUFFIXES,
    EnvironmentConfig,
    PipelineConfig,
    ProjectConfig,
)
from config.mwaa_reserved import reserved_problem
from config.reader import (
    REPOSITORY_ROOT,
    ConfigError,
    build_environment,
    build_pipeline,
    derived_bucket_name,
    read_toml,
)

BOUNDARY_PATH = REPOSITORY_ROOT / "bootstrap" / "permissions-boundary.json"


Loc = tuple[str | int, ...]


class _Table:
    """One table of the file after the model's type checks: the values that passed (defaults for keys left
    out, None where a value failed, a table without its failed entries), and the domain rules' problems."""

    def __init__(self, data: Any, model: type[schema.Table], where: str, problems: list[str], failed: set[Loc]) -> None:
        self._data: Mapping[str, Any] = data if isinstance(data, dict) else {}
        self._model = model
        self._where = where
        self._problems = problems
        self._failed = failed

    def problem(self, key: str, value: Any, allowed: str) -> None:
        self._problems.append(f"{self._where}: {key} = {value!r} is not allowed; {allowed}")

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, its model default when left out (else `default`, for a derived one), or None
        when it failed its type check (already a problem)."""
        if any(loc[0] == key and (len(loc) == 1 or isinstance(loc[1], int)) for loc in self._failed):
            return None
        if key not in self._data:
            declared = self._model.model_fields[key].get_default(call_default_factory=True)
            return default if declared is None else declared
        value = self._data[key]
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not any(loc[:2] == (key, k) for loc in self._failed)}
        return value

    def table(self, key: str, model: type[schema.Table]) -> _Table:
        """A nested table (log_levels), checked like this one."""
        nested = {loc[1:] for loc in self._failed if loc[0] == key and len(loc) > 1}
        return _Table(self.get(key) or {}, model, f"{self._where} {key}", self._problems, nested)

    def items(self, key: str) -> list[tuple[int, Any]]:
        """A list's items that passed their type check, with their positions (for the problems' names)."""
        value = self._data.get(key)
        if not isinstance(value, list) or (key,) in self._failed:
            return []
        failed = {loc[1] for loc in self._failed if loc[0] == key and len(loc) > 1}
        return [(index, item) for index, item in enumerate(value) if index not in failed]

    def check_declared(self) -> None:
        """Each value written in the file against the enum, pattern and bounds its field declares with an
        `allowed` sentence (config/schema.py); a value that fails reads as None to the rules after."""
        for key, info in self._model.model_fields.items():
            declared = info.json_schema_extra
            value = self.get(key)
            if not isinstance(declared, dict) or "x-allowed" not in declared or not self.has(key) or value is None:
                continue
            if not _meets(value, declared):
                self.problem(key, value, str(declared["x-allowed"]))
                self._failed.add((key,))

    def check(self, key: str, value: Any, ok: Callable[[Any], object], allowed: str) -> Any:
        if value is not None and not ok(value):
            self.problem(key, value, allowed)
            return None
        return value

    def required(self, key: str) -> Any:
        """A key the model leaves optional that this table needs (vpc_cidr, without vpc_id)."""
        if not self.has(key):
            self._problems.append(f"{self._where}: {key} is missing")
        return self.get(key)

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, *keys: str) -> Any:
        """The values as written, for a problem about a combination of keys."""
        found = {k: self._data[k] for k in keys if k in self._data}
        return found[keys[0]] if len(keys) == 1 else found


_KIND_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_SUBTABLES: dict[str, type[schema.Table]] = {"log_levels": schema.LogLevels}


def _meets(value: Any, declared: Mapping[str, Any]) -> bool:
    if "enum" in declared and value not in declared["enum"]:
        return False
    if "pattern" in declared and not re.fullmatch(declared["pattern"], value, re.ASCII):
        return False
    return bool(declared.get("minimum", value) <= value <= declared.get("maximum", value))


def _at(data: Any, loc: Loc) -> Any:
    for step in loc:
        data = data[step]
    return data


def _shape_problem(where: str, model: type[schema.Table], table: Any, error: ErrorDetails) -> str:
    """One of pydantic's errors in our form: where, key, value, what is allowed."""
    loc, kind = error["loc"], error["type"]
    key = str(loc[0])
    if kind == "extra_forbidden" and len(loc) == 1:
        return f"{where}: unknown key {key!r} (known keys: {', '.join(sorted(model.model_fields))})"
    if kind == "missing" and len(loc) == 1:
        return f"{where}: {key} is missing"
    if key in _SUBTABLES and len(loc) > 1:
        return _shape_problem(f"{where} {key}", _SUBTABLES[key], table[key], {**error, "loc": loc[1:]})
    if key == "web_access" and len(loc) > 1:
        role = loc[1]
        if kind == "extra_forbidden":
            return f"{where}: web_access = {role!r} is not allowed; keys must be Airflow roles: " + ", ".join(
                rules.AIRFLOW_ROLES
            )
        return (
            f"{where}: web_access.{role} = {table[key][role]!r} is not allowed; "
            "must be a list of IAM role, user or account-root ARNs"
        )
    if key == "execution_role_statements" and len(loc) > 1:
        index, item = loc[1], table[key][loc[1]]
        if len(loc) == 2 or kind in ("missing", "extra_forbidden"):
            return (
                f"{where}: {key}[{index}] = {item!r} is not allowed; must be a table with exactly `actions` and "
                "`resources`, both lists of strings"
            )
        part = loc[2]
        what = "IAM actions" if part == "actions" else "ARNs"
        return f"{where}: {key}[{index}].{part} = {item[part]!r} is not allowed; must be a non-empty list of {what}"
    if len(loc) > 1 and isinstance(loc[1], str):  # a value in a table of strings
        return (
            f"{where}: {key}.{loc[1]} = {error['input']!r} is not allowed; values must be strings "
            "(quote numbers and booleans)"
        )
    if len(loc) > 1:  # an item of a list
        return f"{where}: {key} = {table[key]!r} is not allowed; must be a list of strings"
    kind_name = _KIND_NAMES.get(kind, error["msg"].lower())
    return f"{where}: {key} = {error['input']!r} is not allowed; must be {kind_name}"


def _check_shape(data: Mapping[str, Any]) -> tuple[list[str], list[str], dict[Loc, set[Loc]]]:
    """The model's type, required-key and unknown-key checks on the whole file: the problems (unknown keys
    apart, to come last), and per table (`()`, `("pipeline",)`, `("environments", key)`) the locations that
    failed, so the domain rules skip them."""
    try:
        schema.ConfigFile.model_validate(data)
    except ValidationError as invalid:
        errors = invalid.errors()
    else:
        return [], [], {}
    problems: dict[str, None] = {}  # ordered and without repeats (a statement's errors read as one)
    unknown: list[str] = []
    failed: dict[Loc, set[Loc]] = {}
    for error in errors:
        loc = error["loc"]
        model: type[schema.Table]
        if loc[0] == "pipeline" and len(loc) > 1:
            table, where, model = loc[:1], "pipeline", schema.Pipeline
        elif loc[0] == "environments" and len(loc) > 2:
            table, where, model = loc[:2], f"environment {loc[1]!r}", schema.Environment
        elif loc[0] == "environments" and len(loc) == 2:
            problems[f"environment {loc[1]!r}: must be a table ([environments.{loc[1]}])"] = None
            failed.setdefault(loc, set()).add(())
            continue
        else:
            table, where, model = (), "top level", schema.ConfigFile
        relative = loc[len(table) :]
        problem = _shape_problem(where, model, _at(data, table), {**error, "loc": relative})
        if " unknown key " in problem:
            unknown.append(problem)
        else:
            problems[problem] = None
        failed.setdefault(table, set()).add(relative)
    return list(problems), unknown, failed


def _read_region(t: _Table, services: tuple[str, ...], purpose: str) -> Any:
    """A region code botocore knows, offering every service in `services` (offline endpoint data); None after a
    problem, like `_Table.check`."""
    region = t.get("region")
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


def _check_tags(t: _Table) -> None:
    """Tags as AWS takes them, leaving room for the tags CDK adds to some resources itself."""
    tags: dict[str, str] = t.get("tags") or {}
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


def _read_environment(stage: str, data: Any, problems: list[str], failed: set[Loc]) -> EnvironmentConfig | None:
    where = f"environment {stage!r}"
    if () in failed:  # not a table at all
        return None
    t = _Table(data, schema.Environment, where, problems, failed)
    before = len(problems)

    if not rules.STAGE_NAME.fullmatch(stage):
        problems.append(
            f"{where}: the environment key {stage!r} is not allowed; use lowercase letters, digits and "
            "hyphens, starting with a letter, at most 20 characters (it prefixes the stack names)"
        )
    t.check_declared()

    account = t.get("account")
    region = _read_region(t, rules.ENVIRONMENT_SERVICES, "an MWAA environment")
    name = t.get("environment_name", f"mwaa-{stage}")
    if name is not None and len(name) > ENVIRONMENT_NAME_MAX_FOR_IAM:
        longest = max(ROLE_NAME_SUFFIXES, key=len)
        t.problem(
            "environment_name",
            name,
            f"must be at most {ENVIRONMENT_NAME_MAX_FOR_IAM} characters, so the role names derived from it "
            f"(the longest: <name>{longest}) fit IAM's {IAM_NAME_MAX}",
        )
        name = None

    bucket = t.get("bucket_name") or ""
    bucket_key = "bucket_name"
    if not bucket and name and account and region:
        bucket = derived_bucket_name(name, account, region)
        bucket_key = "bucket_name (derived from environment_name, account and region; set it explicitly)"
    if bucket:
        bucket_error = rules.bucket_name_problem(bucket)
        if bucket_error:
            t.problem(bucket_key, bucket, bucket_error)

    version = t.get("airflow_version")
    env_class = t.get("environment_class")
    micro = env_class == "mw1.micro"

    quota_ok = t.get("max_workers_quota_acknowledged")
    min_workers, max_workers = t.get("min_workers"), t.get("max_workers")
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
    t.check("schedulers", t.get("schedulers", low), lambda v: low <= v <= high, span)
    min_web = t.check("min_webservers", t.get("min_webservers", low), lambda v: low <= v <= high, span)
    max_web = t.check("max_webservers", t.get("max_webservers", low), lambda v: low <= v <= high, span)
    if min_web is not None and max_web is not None and min_web > max_web:
        t.problem("min_webservers", min_web, f"must not exceed max_webservers ({max_web})")

    access_mode = t.get("webserver_access_mode")
    if access_mode == "PUBLIC_AND_PRIVATE" and version and rules.version_tuple(version) < (3, 2):
        t.problem("webserver_access_mode", access_mode, f"needs Airflow 3.2 or later (airflow_version is {version})")

    options: dict[str, str] = t.get("airflow_configuration_options") or {}
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

    t.table("log_levels", schema.LogLevels).check_declared()
    _check_network(t, region)
    _check_tags(t)
    kms_key = t.get("kms_key")
    if kms_key not in (None, "create"):
        match = rules.KMS_KEY_ARN.fullmatch(kms_key)
        if match and region and match["region"] != region:
            t.problem(
                "kms_key", kms_key, f"must be a key in the environment's region {region} (MWAA and S3 need it there)"
            )
    _check_role_extensions(t, account)
    _check_files_dir(t)

    if len(problems) > before or failed:  # failed: its type problems are listed already
        return None
    return build_environment(stage, data)


def _check_files_dir(t: _Table) -> None:
    """The environment's folder of requirements.txt, plugins/ and startup.sh: inside the repository.

    The files become CDK assets uploaded to the environment's bucket, so a path or link leaving
    the repository could publish anything on the build machine.
    """
    raw: str | None = t.get("files_dir")
    if raw is None:
        return
    folder = REPOSITORY_ROOT / raw
    root = REPOSITORY_ROOT.resolve()
    inside = "must be a folder inside this repository, relative to its top, with no '..' and no link leading out"
    if not raw or Path(raw).is_absolute() or ".." in Path(raw).parts:
        t.problem("files_dir", raw, inside)
    elif not (resolved := folder.resolve()).is_relative_to(root):
        t.problem("files_dir", raw, inside + f" (it resolves to {resolved})")
    elif not folder.is_dir():
        t.problem("files_dir", raw, "must be an existing folder of this repository (relative to its top)")
    else:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                t.problem(
                    "files_dir", raw, f"{path.relative_to(REPOSITORY_ROOT)} is a link leading out of the repository"
                )


def _check_network(t: _Table, region: str | None) -> None:
    """A new VPC (vpc_cidr) or an existing one (vpc_id and its two private subnets), and its endpoints."""
    vpc_id = t.get("vpc_id")
    subnets = _id_list(t, "private_subnet_ids", rules.SUBNET_ID, "subnet-0123456789abcdef0")
    route_tables = _id_list(t, "private_route_table_ids", rules.ROUTE_TABLE_ID, "rtb-0123456789abcdef0")
    endpoints = t.get("endpoints")
    zones = t.get("availability_zones")
    if zones is not None:
        zone_pattern = re.compile(re.escape(region or "") + "[a-z]", re.ASCII) if region else None
        if (
            len(zones) != 2
            or len(set(zones)) != 2
            or (zone_pattern and not all(zone_pattern.fullmatch(z) for z in zones))
        ):
            t.problem(
                "availability_zones",
                zones,
                f"must be two different zones of {region or 'the region'} (MWAA takes exactly two private subnets)",
            )

    if vpc_id or t.has("vpc_id"):
        if t.has("vpc_cidr") or t.has("nat_gateways"):
            t.problem(
                "vpc_cidr",
                t.raw("vpc_cidr", "nat_gateways"),
                "leave out vpc_cidr and nat_gateways when vpc_id names an existing VPC",
            )
        if subnets is not None and len(subnets) != 2:
            t.problem("private_subnet_ids", subnets, "an existing VPC needs exactly two private subnet IDs, one per AZ")
        if endpoints and route_tables is not None and len(route_tables) == 0:
            t.problem(
                "private_route_table_ids",
                route_tables,
                "endpoints = true in an existing VPC needs the private subnets' route tables (for the S3 gateway)",
            )
        return

    for key in ("private_subnet_ids", "private_route_table_ids"):
        if t.has(key):
            t.problem(key, t.raw(key), "only with vpc_id (an existing VPC); a new VPC makes its own subnets")
    t.check("vpc_cidr", t.required("vpc_cidr"), _cidr_ok, "must be a private IPv4 network from /16 to /22")
    nat = t.get("nat_gateways")
    if nat == 0 and endpoints is False:
        t.problem(
            "nat_gateways",
            nat,
            "0 needs endpoints = true: without NAT or VPC endpoints MWAA cannot reach S3, SQS, CloudWatch or ECR",
        )


def _check_role_extensions(t: _Table, account: str | None) -> None:
    """What DAGs may do beyond the MWAA policy, and who may log in to the UI with which Airflow role."""
    policies = t.get("execution_role_managed_policies")
    if policies is not None and not all(rules.MANAGED_POLICY_ARN.fullmatch(p) for p in policies):
        t.problem("execution_role_managed_policies", policies, "must be a list of IAM managed policy ARNs")
    boundary = _boundary_actions()
    for index, statement in t.items("execution_role_statements"):
        where = f"execution_role_statements[{index}]"
        for action in statement["actions"]:
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
        if not all(statement["resources"]):
            t.problem(f"{where}.resources", statement["resources"], "must be a non-empty list of ARNs")
    for airflow_role, principals in (t.get("web_access") or {}).items():
        key = f"web_access.{airflow_role}"
        if not all(rules.PRINCIPAL_ARN.fullmatch(p) for p in principals):
            t.problem(key, principals, "must be a list of IAM role, user or account-root ARNs")
        elif account and any(p.split(":")[4] != account for p in principals):
            t.problem(key, principals, f"must be principals of the environment's account {account}")


@functools.cache
def _boundary_actions() -> tuple[str, ...]:
    """The actions the permissions boundary allows: a role can never use more than these."""
    document = json.loads(BOUNDARY_PATH.read_text())
    return tuple(a for s in document["Statement"] if s["Effect"] == "Allow" for a in _as_list(s["Action"]))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _id_list(t: _Table, key: str, pattern: re.Pattern[str], example: str) -> list[str] | None:
    values: list[str] | None = t.get(key)
    if values is not None and not all(pattern.fullmatch(v) for v in values):
        t.problem(key, values, f"must be a list of IDs like {example}")
        return None
    return values


def _cidr_ok(value: str) -> bool:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        return False
    return network.version == 4 and network.is_private and 16 <= network.prefixlen <= 22


def _read_pipeline(data: Any, problems: list[str], failed: set[Loc]) -> PipelineConfig | None:
    if not isinstance(data, dict):  # missing or not a table: a problem already
        return None
    t = _Table(data, schema.Pipeline, "pipeline", problems, failed)
    before = len(problems)
    t.check_declared()
    account = t.get("account")
    _read_region(t, rules.PIPELINE_SERVICES, "the pipeline stack")
    t.check("branch", t.get("branch"), rules.BRANCH.fullmatch, "must be a branch name such as main")
    connection_arn = t.get("connection_arn")
    connection = rules.CONNECTION_ARN.fullmatch(connection_arn or "")
    if connection and account and connection["account"] != account:
        t.problem(
            "connection_arn",
            connection_arn,
            f"must be a connection of the tools account {account}: a connection is usable only in its own account",
        )
    if len(problems) > before or failed:  # failed: its type problems are listed already
        return None
    return build_pipeline(data)


def parse_config(data: Mapping[str, Any], source: str = "config") -> ProjectConfig:
    """Validate already-parsed TOML; raises ConfigError listing every problem."""
    problems, unknown_keys, failed = _check_shape(data)
    pipeline = _read_pipeline(data.get("pipeline"), problems, failed.get(("pipeline",), set()))
    envs_table = data.get("environments") if isinstance(data.get("environments"), dict) else None
    if envs_table == {}:
        problems.append("top level: [environments] is empty; define at least one environment")
    environments = []
    for stage, env_data in (envs_table or {}).items():
        env = _read_environment(stage, env_data, problems, failed.get(("environments", stage), set()))
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
    problems += unknown_keys
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
    data, source = read_toml(path)
    return parse_config(data, source)
