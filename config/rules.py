"""MWAA and AWS limits the config is checked against (see shared/docs/mwaa-facts.md)."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

# Airflow 3 versions MWAA offers (it never offered 3.1.x); the newest is the default for new environments.
AIRFLOW_VERSIONS = ("3.0.6", "3.2.1", "3.3.1")
DEFAULT_AIRFLOW_VERSION = "3.3.1"

ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
ACCESS_MODES = ("PUBLIC_ONLY", "PRIVATE_ONLY", "PUBLIC_AND_PRIVATE")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
WORKER_REPLACEMENT_STRATEGIES = ("GRACEFUL", "FORCED")
ENDPOINT_MANAGEMENT = ("SERVICE", "CUSTOMER")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}", re.ASCII)
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}", re.ASCII)
ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8,17}", re.ASCII)
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WORKER_QUOTA = 25

STAGE_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}", re.ASCII)
ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
ENVIRONMENT_NAME = re.compile(r"[a-zA-Z][0-9a-zA-Z\-_]*", re.ASCII)
MAINTENANCE_WINDOW = re.compile(r"(MON|TUE|WED|THU|FRI|SAT|SUN):([01][0-9]|2[0-3]):(00|30)", re.ASCII)
AIRFLOW_OPTION_KEY = re.compile(r"[a-z]+([a-z0-9._]*[a-z0-9_]+)?", re.ASCII)
AIRFLOW_OPTION_VALUE = re.compile(r"[\x20-\x7e]{1,65536}", re.ASCII)  # the MWAA API: [ -~]+, 1 to 65,536

PIPELINE_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}", re.ASCII)
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", re.ASCII)
BRANCH = re.compile(r"(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]+(?<![/.])", re.ASCII)
CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12})"
    r":connection/[0-9a-f-]{36}",
    re.ASCII,
)
KMS_KEY_ARN = re.compile(
    r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})", re.ASCII
)
MANAGED_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/[\w+=,.@/-]+", re.ASCII)
IAM_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+\*?", re.ASCII)
PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)", re.ASCII)
SECRETS_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*", re.ASCII)
AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer")
SNS_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}", re.ASCII)

# AWS tagging limits (the Tagging API and each service we tag: EC2, S3, IAM, Logs, KMS, MWAA, SNS).
MAX_TAGS_PER_RESOURCE = 50
# Tags CDK puts on some resources itself (subnets: Name, aws-cdk:subnet-name, aws-cdk:subnet-type;
# buckets with auto-delete: aws-cdk:auto-delete-objects); tests/test_config_input.py counts them.
CDK_OWN_TAGS = 3
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - CDK_OWN_TAGS
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_RESERVED_PREFIX = "aws:"
TAG_SYMBOLS = set(" _.:/=+-@")

# The services each side calls: an environment's region must offer MWAA; the tools region the rest.
ENVIRONMENT_SERVICES = ("airflow",)
PIPELINE_SERVICES = ("codepipeline", "codebuild", "codestar-connections", "codestar-notifications", "kms", "sns")
REGIONS_DATA = Path(__file__).with_name("data") / "aws_regions.json"

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


# CodePipeline's quotas (CodePipeline user guide, "Quotas in AWS CodePipeline"): 50 stages per pipeline and
# 50 actions per stage. The main pipeline has four stages before the first wave (Source, Build,
# UpdatePipeline, Assets) and one per wave; the DAG pipeline one (Source) and one per wave. A wave's stage
# holds, per environment, two actions per stack (create the change set, execute it) for three stacks, the
# replacement guard of network and storage (two guards when the environment's key makes network wait for
# storage) and the DAG seed with the MWAA stack's guard; per wave, the security diff and its approval and
# the availability check, the promotion approval when it has one, and in the first wave the DAG check
# (tests/test_scale.py counts these in synthesized pipelines).
CODEPIPELINE_MAX_STAGES = 50
CODEPIPELINE_MAX_ACTIONS_PER_STAGE = 50
MAIN_PIPELINE_FIXED_STAGES = 4
ACTIONS_PER_ENVIRONMENT = 2 * 3 + 2
ACTIONS_PER_WAVE = 3
MAX_WAVES = CODEPIPELINE_MAX_STAGES - MAIN_PIPELINE_FIXED_STAGES
# CloudFormation takes a template of at most 1 MB (given through S3, as CDK gives the pipeline stack's). The
# pipeline stack's grows with each environment's actions and each wave's; these bytes (measured by `make
# bench` at 2 to 50 environments, rounded up; tests/test_scale.py checks they never fall short) estimate it.
TEMPLATE_MAX_BYTES = 1_000_000
TEMPLATE_BASE_BYTES = 90_000
TEMPLATE_BYTES_PER_ENVIRONMENT = 8_500
TEMPLATE_BYTES_PER_WAVE = 3_000


def pipeline_template_bytes(environments: int, waves: int) -> int:
    """An upper estimate of the pipeline stack's template for this many environments and waves."""
    return TEMPLATE_BASE_BYTES + environments * TEMPLATE_BYTES_PER_ENVIRONMENT + waves * TEMPLATE_BYTES_PER_WAVE


def pipeline_limit_problems(environments: list[tuple[str, str, bool, bool]]) -> list[str]:
    """Why the environments would not fit in the pipelines: (key, wave, approval, whether its network stack
    waits for its storage stack), in config order."""
    problems = []
    waves: dict[str, list[tuple[str, bool]]] = {}
    extra: dict[str, int] = {}
    for key, wave, approval, separate_guards in environments:
        waves.setdefault(wave, []).append((key, approval))
        extra[wave] = extra.get(wave, 0) + separate_guards
    if len(waves) > MAX_WAVES:
        problems.append(
            f"environments: {len(waves)} waves (one per environment unless `wave` groups them) need "
            f"{len(waves) + MAIN_PIPELINE_FIXED_STAGES} stages in the main pipeline; CodePipeline allows "
            f"{CODEPIPELINE_MAX_STAGES} stages in a pipeline, so at most {MAX_WAVES} waves: put environments "
            'that may deploy side by side in one wave (`wave = "<name>"`)'
        )
    estimate = pipeline_template_bytes(len(environments), len(waves))
    if estimate > TEMPLATE_MAX_BYTES:
        problems.append(
            f"environments: {len(environments)} environments in {len(waves)} waves make the pipeline stack's template "
            f"about {estimate // 1000:,} KB; CloudFormation takes a template of at most "
            f"{TEMPLATE_MAX_BYTES // 1000:,} KB: deliver some of them from a second pipeline (a config of its own, "
            "with its own [pipeline] name)"
        )
    for index, (wave, members) in enumerate(waves.items()):
        keys = [key for key, _ in members]
        approvals = {approval for _, approval in members}
        if len(approvals) > 1:
            problems.append(
                f"wave {wave!r}: its environments {', '.join(keys)} differ in `approval`; one approval promotes "
                "a whole wave, so set the same value on all of them"
            )
        actions = ACTIONS_PER_WAVE + len(members) * ACTIONS_PER_ENVIRONMENT + extra[wave]
        actions += (True in approvals) + (index == 0)
        if actions > CODEPIPELINE_MAX_ACTIONS_PER_STAGE:
            most = (CODEPIPELINE_MAX_ACTIONS_PER_STAGE - ACTIONS_PER_WAVE - 2) // ACTIONS_PER_ENVIRONMENT
            problems.append(
                f"wave {wave!r}: its {len(members)} environments ({', '.join(keys)}) need {actions} actions in one "
                f"stage of the main pipeline; CodePipeline allows {CODEPIPELINE_MAX_ACTIONS_PER_STAGE} actions in a "
                f"stage, so a wave holds at most {most} environments: split it"
            )
    return problems


# Airflow options every environment gets unless config sets them (config wins). Airflow 3's DAG processor
# finds new DAG files only when it refreshes its DAG bundle, every 300 s by default (MWAA does not change
# it): a new file would take up to 5 minutes after MWAA's 30 s copy. A refresh lists the DAG folder and
# runs two small queries; every 20 s puts a new file within a minute of its sync (measured: `make bench`).
DEFAULT_AIRFLOW_OPTIONS = {"dag_processor.refresh_interval": "20"}


def secrets_backend_options(prefix: str | None) -> dict[str, str]:
    """Airflow options that read connections and variables from Secrets Manager under `prefix/`."""
    if not prefix:
        return {}
    kwargs = f'{{"connections_prefix": "{prefix}/connections", "variables_prefix": "{prefix}/variables"}}'
    return {
        "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
        "secrets.backend_kwargs": kwargs,
    }


@functools.cache
def _regions_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REGIONS_DATA.read_text())
    return data


def known_regions() -> dict[str, str]:
    """Every region code botocore knows (scripts/derive_aws_regions.py), with its partition."""
    regions: dict[str, str] = _regions_data()["regions"]
    return regions


def services_missing(region: str, services: tuple[str, ...]) -> list[str]:
    """Which of `services` botocore's endpoint data does not list for `region`."""
    offered = _regions_data()["services"]
    return [service for service in services if region not in offered[service]]


def tag_problem(key: str, value: str) -> str | None:
    """What AWS would refuse about one tag, or None."""
    if not 1 <= len(key) <= TAG_KEY_MAX:
        return f"tag keys must be 1 to {TAG_KEY_MAX} characters"
    if len(value) > TAG_VALUE_MAX:
        return f"tag values must be at most {TAG_VALUE_MAX} characters"
    if key.lower().startswith(TAG_RESERVED_PREFIX):
        return f"tag keys starting with {TAG_RESERVED_PREFIX!r} are reserved for AWS"
    for text in (key, value):
        if any(not (c in TAG_SYMBOLS or unicodedata.category(c)[0] in "LNZ") for c in text):
            return "tags may hold only letters, digits, spaces and _ . : / = + - @"
    return None


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def upgrade_path_problem(before: str, after: str) -> str | None:
    """Why MWAA would refuse to move an environment from Airflow `before` to `after` in place, or None.

    MWAA's rules (its user guide; shared/docs/mwaa-facts.md): within 3.x an environment upgrades one
    offered minor version at a time (3.0 -> 3.2 -> 3.3; MWAA never offered 3.1, and 3.3 needs 3.2 or
    later), patch versions within a minor freely; 3.x cannot be downgraded to another 3.x (only to
    2.11, which this project does not run). The message names the path to take instead.
    """
    if before == after:
        return None
    offered = sorted(AIRFLOW_VERSIONS, key=version_tuple)
    old, new = version_tuple(before), version_tuple(after)
    if new < old:
        return (
            f"MWAA cannot downgrade Airflow {before} to {after} in place; keep {before}, or create a new "
            "environment (a new environment_name) on the older version and move the DAGs there"
        )
    if old[:2] == new[:2]:
        return None
    later_minors = sorted({v[:2] for v in map(version_tuple, offered) if v[:2] > old[:2]})
    if not later_minors or new[:2] == later_minors[0]:
        return None
    newest_of = {
        minor: max((v for v in offered if version_tuple(v)[:2] == minor), key=version_tuple) for minor in later_minors
    }
    path = [before, *(newest_of[minor] for minor in later_minors if minor < new[:2]), after]
    return (
        f"MWAA cannot upgrade Airflow {before} to {after} in one step (each upgrade goes to the next "
        f"minor version MWAA offers); take the path {' -> '.join(path)}: set airflow_version to "
        f"{path[1]}, push and let it deploy, then the next"
    )


def bucket_name_problem(name: str) -> str | None:
    """What is wrong with an S3 bucket name under the general-purpose bucket rules, or None."""
    if not _BUCKET_CHARS.fullmatch(name):
        return (
            "must be 3 to 63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    try:
        ipaddress.IPv4Address(name)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    if name.startswith(_BUCKET_RESERVED_PREFIXES) or name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return "uses a prefix or suffix S3 reserves (xn--, sthree-, amzn-s3-demo-, -s3alias, --ol-s3, .mrap, ...)"
    return None
