"""The shape of environments.toml: each field once, with its type, default, bounds and what it is for.

pydantic checks the types, the required keys and unknown keys (strict: `"1"` is not a number, `1` is not
`true`); config/loader.py turns its errors into our one-line problems and applies the rules that need
another field or AWS's lists (regions, quotas, MWAA's reserved options, the permissions boundary). The JSON
schema editors validate with (config/environments.schema.json) and the config reference
(docs/config-reference.md) are generated from these models by scripts/config_docs.py.

The app's synth imports this; the DAG tools never do (config/reader.py), so a sync does not pay for pydantic.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from config import rules
from config.model import ENVIRONMENT_NAME_MAX_FOR_IAM, LOG_TYPES


def pattern(regex: re.Pattern[str]) -> str:
    """A rule's regex as a JSON-schema pattern: anchored (Python checks with fullmatch) and without named
    groups, which ECMA and Rust regex engines spell differently."""
    return "^(?:" + re.sub(r"\(\?P<\w+>", "(", regex.pattern) + ")$"


def field(
    description: str,
    default: Any = None,
    *,
    default_text: str | None = None,
    allowed: str | None = None,
    choices: tuple[Any, ...] = (),
    why: str = "",
    **schema: Any,
) -> Any:
    """A field: what it is for, its default (None: required, or derived as `default_text` says), and its
    JSON-schema keywords (enum, pattern, minimum, maximum, ...); `choices` is an enum with its sentence.
    With `allowed`, the sentence a wrong value is told, the loader enforces the enum, pattern and bounds
    as declared here; without it, they only guide editors and a rule in config/loader.py checks the field
    (its bounds depend on another field, say)."""
    extra = dict(schema)
    if choices:  # a list of values, enforced with the sentence that names them
        extra["enum"], allowed = list(choices), one_of(choices, why)
    if default_text is not None:
        extra["x-default"] = default_text
    if allowed is not None:
        extra["x-allowed"] = allowed
    return Field(default, description=description, json_schema_extra=extra)  # pydantic copies a list or table


def required(description: str, *, allowed: str | None = None, **schema: Any) -> Any:
    extra = {**schema, "x-allowed": allowed} if allowed else schema
    return Field(description=description, json_schema_extra=extra)


def one_of(values: tuple[Any, ...], why: str = "") -> str:
    return "must be one of " + ", ".join(map(str, values)) + why


TWELVE_DIGITS = "must be 12 digits (0-9)"
AT_LEAST_1 = "must be at least 1"
TOPIC_NAME = "must be an SNS topic name: letters, digits, '-' and '_', at most 256 characters"


def _tidy(schema: dict[str, Any]) -> None:
    """No titles (the key is the name) and no `null` defaults: TOML has no null, a left-out key is the default."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        if prop.get("default", ...) is None:
            del prop["default"]


class Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, json_schema_extra=_tidy)


def _regions_offering(services: tuple[str, ...]) -> list[str]:
    return sorted(r for r in rules.known_regions() if not rules.services_missing(r, services))


ENVIRONMENT_REGIONS = _regions_offering(rules.ENVIRONMENT_SERVICES)
PIPELINE_REGIONS = _regions_offering(rules.PIPELINE_SERVICES)
ARN_OF_ACCOUNT = "an ARN of the environment's account"


class LogLevels(Table):
    """The level of each of MWAA's five log types; all five are always on."""

    dag_processing: StrictStr = field("DAG processor logs", rules.DEFAULT_LOG_LEVEL, choices=rules.LOG_LEVELS)
    scheduler: StrictStr = field("scheduler logs", rules.DEFAULT_LOG_LEVEL, choices=rules.LOG_LEVELS)
    task: StrictStr = field("task logs", rules.DEFAULT_LOG_LEVEL, choices=rules.LOG_LEVELS)
    webserver: StrictStr = field("API server (web server) logs", rules.DEFAULT_LOG_LEVEL, choices=rules.LOG_LEVELS)
    worker: StrictStr = field("Celery worker logs", rules.DEFAULT_LOG_LEVEL, choices=rules.LOG_LEVELS)


assert tuple(LogLevels.model_fields) == LOG_TYPES


_PRINCIPAL = {"type": "string", "pattern": pattern(rules.PRINCIPAL_ARN)}


class WebAccess(Table):
    """Who may log in to the Airflow UI, and with which Airflow role."""

    Admin: list[StrictStr] = field(
        "IAM principals (of the environment's account) that log in as Admin", [], items=_PRINCIPAL
    )
    Op: list[StrictStr] = field("IAM principals that log in as Op", [], items=_PRINCIPAL)
    User: list[StrictStr] = field("IAM principals that log in as User", [], items=_PRINCIPAL)
    Viewer: list[StrictStr] = field("IAM principals that log in as Viewer", [], items=_PRINCIPAL)


assert tuple(WebAccess.model_fields) == rules.AIRFLOW_ROLES


class Statement(Table):
    """An Allow statement on the execution role, for what the DAGs need."""

    actions: list[StrictStr] = Field(
        min_length=1,
        description="IAM actions, each inside the permissions boundary; no `*` and no `service:*`",
        json_schema_extra={"items": {"type": "string", "pattern": pattern(rules.IAM_ACTION)}},
    )
    resources: list[StrictStr] = Field(min_length=1, description="the ARNs the actions apply to")


class Environment(Table):
    """One MWAA environment: `[environments.<key>]`; the key names its Stage and prefixes its stacks."""

    account: StrictStr = required(
        "the AWS account (12 digits) the environment lives in", pattern=pattern(rules.ACCOUNT), allowed=TWELVE_DIGITS
    )
    region: StrictStr = required(
        "a region code botocore knows where it lists an MWAA endpoint", enum=ENVIRONMENT_REGIONS
    )
    environment_name: StrictStr = field(
        "the MWAA environment's name; the roles named after it must fit IAM's 64 characters",
        default_text="mwaa-<key>",
        pattern=pattern(rules.ENVIRONMENT_NAME),
        allowed="must start with a letter and contain only letters, digits, '-' and '_'",
        maxLength=ENVIRONMENT_NAME_MAX_FOR_IAM,
    )
    bucket_name: StrictStr = field(
        "the DAG bucket's name (S3's naming rules; names are global)",
        default_text="<environment_name>-<account>-<region>",
        minLength=3,
        maxLength=63,
    )
    airflow_version: StrictStr = field(
        "the Airflow 3 version (MWAA never offered 3.1.x; 3.3.1 only from 3.2 and later)",
        rules.DEFAULT_AIRFLOW_VERSION,
        choices=rules.AIRFLOW_VERSIONS,
        why=" (the Airflow 3 versions MWAA offers)",
    )
    environment_class: StrictStr = field(
        "MWAA's environment class",
        "mw1.small",
        choices=rules.ENVIRONMENT_CLASSES,
    )
    min_workers: StrictInt = field("the fewest workers; at most max_workers", 1, minimum=1, allowed=AT_LEAST_1)
    max_workers: StrictInt = field(
        "the most workers: 1 on mw1.micro; above 25 (the default quota) only with max_workers_quota_acknowledged",
        2,
        minimum=1,
        allowed=AT_LEAST_1,
    )
    max_workers_quota_acknowledged: StrictBool = field("true once the account's MWAA worker quota is raised", False)
    schedulers: StrictInt = field(
        "schedulers: 2 to 5, exactly 1 on mw1.micro", default_text="2 (1 on mw1.micro)", minimum=1, maximum=5
    )
    min_webservers: StrictInt = field(
        "the fewest web servers: 2 to 5 and at most max_webservers, exactly 1 on mw1.micro",
        default_text="2 (1 on mw1.micro)",
        minimum=1,
        maximum=5,
    )
    max_webservers: StrictInt = field(
        "the most web servers: 2 to 5, exactly 1 on mw1.micro", default_text="2 (1 on mw1.micro)", minimum=1, maximum=5
    )
    webserver_access_mode: StrictStr = field(
        "who reaches the web server: PUBLIC_AND_PRIVATE needs Airflow 3.2 or later",
        default_text="PRIVATE_ONLY when protected, else PUBLIC_ONLY",
        choices=rules.ACCESS_MODES,
    )
    weekly_maintenance_window_start: StrictStr = field(
        "DAY:HH:MM in UTC, minutes 00 or 30",
        "SUN:03:00",
        pattern=pattern(rules.MAINTENANCE_WINDOW),
        allowed="must be DAY:HH:MM in UTC with DAY one of MON..SUN and MM 00 or 30 (for example SUN:03:00)",
    )
    airflow_configuration_options: dict[StrictStr, StrictStr] = field(
        'Airflow options as `"section.option" = "string"`, merged over ours (yours win); options MWAA sets '
        "itself are refused per version (config/mwaa_reserved.py)",
        {},
        default_text='`dag_processor.refresh_interval = "20"`, and the secrets backend with secrets_manager_prefix',
        propertyNames={"pattern": pattern(rules.AIRFLOW_OPTION_KEY), "maxLength": 64},
        additionalProperties={"type": "string", "pattern": pattern(rules.AIRFLOW_OPTION_VALUE)},
    )
    log_levels: LogLevels = field("the level of each log type", {}, default_text="INFO each")
    vpc_cidr: StrictStr = field(
        "a new VPC's private IPv4 network, /16 to /22; leave out with vpc_id", default_text="required for a new VPC"
    )
    availability_zones: list[StrictStr] = required(
        "two different zones of the region (for an existing VPC: its subnets' zones)",
        minItems=2,
        maxItems=2,
        uniqueItems=True,
    )
    nat_gateways: StrictInt = field(
        "NAT gateways of a new VPC: 0, 1 or 2 (one per zone); 0 needs endpoints = true",
        1,
        minimum=0,
        maximum=2,
        allowed="must be 0, 1 or 2",
    )
    endpoints: StrictBool = field(
        "VPC endpoints for S3, CloudWatch, SQS, KMS, ECR and MWAA, reachable from the environment only", False
    )
    endpoint_management: StrictStr = field(
        "SERVICE, or CUSTOMER in a shared VPC whose owner creates MWAA's endpoints",
        "SERVICE",
        choices=rules.ENDPOINT_MANAGEMENT,
    )
    vpc_id: StrictStr = field(
        "an existing VPC: then the network stack makes only the security group and the endpoints asked for",
        pattern=pattern(rules.VPC_ID),
        allowed="must look like vpc-0123456789abcdef0",
    )
    private_subnet_ids: list[StrictStr] = field(
        "with vpc_id: its two private subnets, one per zone",
        [],
        items={"type": "string", "pattern": pattern(rules.SUBNET_ID)},
    )
    private_route_table_ids: list[StrictStr] = field(
        "with vpc_id and endpoints = true: the private subnets' route tables (for the S3 gateway)",
        [],
        items={"type": "string", "pattern": pattern(rules.ROUTE_TABLE_ID)},
    )
    tags: dict[StrictStr, StrictStr] = field(
        "tags on every resource of the environment: at most 47 (CDK adds up to 3 of the 50 AWS allows); no aws: "
        "prefix; keys unique ignoring case",
        {},
        maxProperties=rules.MAX_USER_TAGS,
        propertyNames={"minLength": 1, "maxLength": rules.TAG_KEY_MAX},
        additionalProperties={"type": "string", "maxLength": rules.TAG_VALUE_MAX},
    )
    wave: StrictStr = field(
        "environments of one wave deploy side by side, behind one promotion (their approval must agree)",
        default_text="the environment's key",
        pattern=pattern(rules.STAGE_NAME),
        allowed="must be lowercase letters, digits and hyphens, starting with a letter, at most 20 characters",
    )
    approval: StrictBool = field("true: the pipeline waits for a person's approval before deploying it", False)
    protected: StrictBool = field("true: termination protection, and buckets retained on deletion", False)
    allow_replacement: StrictBool = field(
        "true: the pipeline may execute a change set that replaces or removes the environment, a bucket, the VPC, "
        "a subnet or a KMS key",
        False,
    )
    worker_replacement_strategy: StrictStr = field(
        "GRACEFUL (running tasks may finish, up to 12 h) or FORCED, when an update replaces workers",
        "GRACEFUL",
        choices=rules.WORKER_REPLACEMENT_STRATEGIES,
    )
    kms_key: StrictStr = field(
        '"create" (a key of our own, rotated) or an existing key\'s ARN in the region: encrypts the bucket, the '
        "environment and its log groups; changing it replaces the environment",
        default_text="AWS-owned keys",
        pattern="^(?:create|" + pattern(rules.KMS_KEY_ARN)[1:-1] + ")$",
        allowed='must be "create" or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
    )
    execution_role_managed_policies: list[StrictStr] = field(
        "managed policy ARNs attached to the execution role (the permissions boundary still caps them)",
        [],
        items={"type": "string", "pattern": pattern(rules.MANAGED_POLICY_ARN)},
    )
    execution_role_statements: list[Statement] = field("Allow statements for what the DAGs need", [])
    secrets_manager_prefix: StrictStr = field(
        "e.g. airflow: connections from airflow/connections/*, variables from airflow/variables/*; the role reads "
        "that prefix only",
        pattern=pattern(rules.SECRETS_PREFIX),
        allowed="must be a Secrets Manager name prefix such as airflow (connections under airflow/connections/...)",
    )
    web_access: WebAccess = field(
        "Airflow role -> IAM principals: a login policy per role listed, and a role to assume when it has principals",
        {},
    )
    files_dir: StrictStr = field(
        "the folder (relative to the repository's top, staying inside it) of requirements.txt, plugins/ and "
        "startup.sh, each optional",
        default_text="mwaa/<key>",
    )
    log_retention_days: StrictInt = field(
        "days CloudWatch keeps the airflow-<name>-* logs",
        365,
        enum=list(rules.LOG_RETENTION_DAYS),
        allowed="must be a period CloudWatch Logs offers: " + ", ".join(map(str, rules.LOG_RETENTION_DAYS)),
    )
    alarm_topic: StrictStr = field(
        "an SNS topic name: the MWAA stack creates it with alarms and a dashboard",
        pattern=pattern(rules.SNS_TOPIC_NAME),
        allowed=TOPIC_NAME,
    )
    queued_tasks_alarm_threshold: StrictInt = field(
        "queued tasks that raise the alarm", 50, minimum=1, allowed=AT_LEAST_1
    )


class Pipeline(Table):
    """`[pipeline]`: the tools account and the git repository both pipelines follow."""

    name: StrictStr = field(
        "names the pipelines, their stack, the step roles the environments trust and the permissions boundary",
        "mwaa-platform",
        pattern=pattern(rules.PIPELINE_NAME),
        allowed="must be lowercase letters, digits and '-', starting with a letter, at most 40 characters",
    )
    account: StrictStr = required(
        "the tools account that runs the pipelines", pattern=pattern(rules.ACCOUNT), allowed=TWELVE_DIGITS
    )
    region: StrictStr = required(
        "the tools account's region: it must offer CodePipeline, CodeBuild, CodeConnections, CodeStar "
        "Notifications, KMS and SNS",
        enum=PIPELINE_REGIONS,
    )
    repository: StrictStr = required(
        "owner/name on GitHub, GitLab or Bitbucket",
        pattern=pattern(rules.REPOSITORY),
        allowed="must be 'owner/name' as the git host shows it (for example example-org/mwaa-platform)",
    )
    branch: StrictStr = field("the branch both pipelines follow", "main")
    connection_arn: StrictStr = required(
        "a CodeConnections connection ARN of the tools account",
        pattern=pattern(rules.CONNECTION_ARN),
        allowed="must be a CodeConnections connection ARN, "
        "arn:aws:codeconnections:<region>:<account>:connection/<uuid> (create it first; see docs/operators.md)",
    )
    notification_topic: StrictStr = field(
        "the SNS topic created for failures and approvals",
        "mwaa-delivery",
        pattern=pattern(rules.SNS_TOPIC_NAME),
        allowed=TOPIC_NAME,
    )


class ConfigFile(Table):
    """environments.toml: the pipeline and the environments, in deployment order."""

    pipeline: Pipeline = required("the tools account and the repository")
    environments: dict[StrictStr, Environment] = required(
        "one table per environment, in deployment order",
        minProperties=1,
        propertyNames={"pattern": pattern(rules.STAGE_NAME)},
    )
