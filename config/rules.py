"""MWAA and AWS limits the config is checked against (see shared/docs/mwaa-facts.md)."""

from __future__ import annotations

import ipaddress
import re

# Airflow 3 versions MWAA offers; the first is the default for new environments.
AIRFLOW_VERSIONS = ("3.0.6", "3.2.1")
DEFAULT_AIRFLOW_VERSION = AIRFLOW_VERSIONS[0]

ENVIRONMENT_CLASSES = ("mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge")
ACCESS_MODES = ("PUBLIC_ONLY", "PRIVATE_ONLY", "PUBLIC_AND_PRIVATE")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
WORKER_REPLACEMENT_STRATEGIES = ("GRACEFUL", "FORCED")
ENDPOINT_MANAGEMENT = ("SERVICE", "CUSTOMER")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8,17}")
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

# Options we always set; config values win over these, never the other way round.
DEFAULT_AIRFLOW_OPTIONS = {"core.load_examples": "False"}

STAGE_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
ENVIRONMENT_NAME = re.compile(r"[a-zA-Z][0-9a-zA-Z\-_]*")
ENVIRONMENT_NAME_MAX = 80
MAINTENANCE_WINDOW = re.compile(r"(MON|TUE|WED|THU|FRI|SAT|SUN):([01]\d|2[0-3]):(00|30)")
AIRFLOW_OPTION_KEY = re.compile(r"[a-z]+([a-z0-9._]*[a-z0-9_]+)?")
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

PIPELINE_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
BRANCH = re.compile(r"(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]+(?<![/.])")
CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}"
)
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})")
MANAGED_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+")
IAM_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+\*?")
PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)")
SECRETS_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*")
AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer")
SNS_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def secrets_backend_options(prefix: str | None) -> dict[str, str]:
    """Airflow options that read connections and variables from Secrets Manager under `prefix/`."""
    if not prefix:
        return {}
    kwargs = f'{{"connections_prefix": "{prefix}/connections", "variables_prefix": "{prefix}/variables"}}'
    return {
        "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
        "secrets.backend_kwargs": kwargs,
    }


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


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
