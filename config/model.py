"""Typed, immutable configuration objects.

Standard library only: the DAG tools read these in CodeBuild, where aws_cdk is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from config.rules import AIRFLOW_ROLES, known_regions

LOG_TYPES = ("dag_processing", "scheduler", "task", "webserver", "worker")
DAGS_PREFIX = "dags/"


@dataclass(frozen=True)
class StatementConfig:
    """An Allow statement added to the execution role for what the DAGs need."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


IAM_NAME_MAX = 64
# Every IAM role an environment's stacks name after it: `<environment_name><suffix>`.
ROLE_NAME_SUFFIXES = (
    "-execution",
    "-dag-sync",
    "-dag-reader",
    "-status-reader",
    *(f"-web-{r.lower()}" for r in AIRFLOW_ROLES),
)
ENVIRONMENT_NAME_MAX_FOR_IAM = IAM_NAME_MAX - max(len(suffix) for suffix in ROLE_NAME_SUFFIXES)

BOOTSTRAP_QUALIFIER = "cdk-hnb659fds"  # `cdk bootstrap`'s default qualifier and role-name prefix


def partition_of(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov, ...), from botocore's region list."""
    return known_regions().get(region, "aws")


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One MWAA environment and the account it lives in; `stage` is its key in environments.toml."""

    stage: str
    account: str
    region: str
    environment_name: str
    bucket_name: str
    airflow_version: str
    environment_class: str
    min_workers: int
    max_workers: int
    max_workers_quota_acknowledged: bool
    schedulers: int
    min_webservers: int
    max_webservers: int
    webserver_access_mode: str
    weekly_maintenance_window_start: str
    airflow_configuration_options: Mapping[str, str]
    log_levels: Mapping[str, str]
    vpc_cidr: str | None  # None when the environment uses an existing VPC
    availability_zones: tuple[str, ...]
    nat_gateways: int
    endpoints: bool
    endpoint_management: str
    vpc_id: str | None
    private_subnet_ids: tuple[str, ...]
    private_route_table_ids: tuple[str, ...]
    tags: Mapping[str, str]
    wave: str  # environments of one wave deploy side by side, in one stage of each pipeline
    approval: bool
    protected: bool
    allow_replacement: bool
    worker_replacement_strategy: str
    kms_key: str | None  # None: AWS-owned key; "create": a key of our own; else an existing key's ARN
    execution_role_managed_policies: tuple[str, ...]
    execution_role_statements: tuple[StatementConfig, ...]
    secrets_manager_prefix: str | None
    web_access: Mapping[str, tuple[str, ...]]  # Airflow role -> principals allowed to log in with it
    files_dir: Path  # requirements.txt, plugins/ and startup.sh for this environment, each optional
    log_retention_days: int
    alarm_topic: str | None
    queued_tasks_alarm_threshold: int

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def execution_role_name(self) -> str:
        return f"{self.environment_name}-execution"

    @property
    def dag_sync_role_name(self) -> str:
        return f"{self.environment_name}-dag-sync"

    @property
    def dag_sync_role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.dag_sync_role_name}"

    @property
    def environment_arn(self) -> str:
        return f"arn:{self.partition}:airflow:{self.region}:{self.account}:environment/{self.environment_name}"

    @property
    def status_reader_role_name(self) -> str:
        return f"{self.environment_name}-status-reader"

    @property
    def network_waits_for_storage(self) -> bool:
        """The network stack deploys after the storage stack when the environment's key (made or referenced
        there) encrypts the flow logs; otherwise the two deploy side by side."""
        return self.kms_key is not None

    @property
    def private_web_server(self) -> bool:
        """MWAA refuses InvokeRestApi from outside the VPC when the web server is private."""
        return self.webserver_access_mode == "PRIVATE_ONLY"

    @property
    def dag_reader_function_name(self) -> str:
        """The function in the environment's VPC that reads Airflow's view of the DAGs (and its role's name)."""
        return f"{self.environment_name}-dag-reader"

    @property
    def dag_reader_function_arn(self) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{self.dag_reader_function_name}"

    def web_login_role_name(self, airflow_role: str) -> str:
        """The role (and managed policy) that logs in to the Airflow UI as `airflow_role`."""
        return f"{self.environment_name}-web-{airflow_role.lower()}"

    @property
    def status_reader_role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.status_reader_role_name}"

    def bootstrap_role_arn(self, kind: str) -> str:
        """A role `cdk bootstrap` creates in this environment's account (kind: deploy, lookup, ...)."""
        name = f"{BOOTSTRAP_QUALIFIER}-{kind}-role-{self.account}-{self.region}"
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """The tools account and the git repository the pipelines watch."""

    name: str
    account: str
    region: str
    repository: str
    branch: str
    connection_arn: str
    notification_topic: str

    @property
    def stack_name(self) -> str:
        return f"{self.name}-pipeline"

    @property
    def permissions_boundary_name(self) -> str:
        """The boundary every role in the environment stacks carries (bootstrap/permissions-boundary.json)."""
        return f"{self.name}-boundary"

    @property
    def cfn_execution_policy_name(self) -> str:
        return f"{self.name}-cfn-exec"

    @property
    def dag_pipeline_name(self) -> str:
        return f"{self.name}-dags"

    # Fixed role names, so each environment's roles can trust exactly these tools-account roles.
    @property
    def seed_role_name(self) -> str:
        return f"{self.name}-dag-seed"

    @property
    def dag_sync_role_name(self) -> str:
        return f"{self.name}-dag-sync"

    @property
    def status_check_role_name(self) -> str:
        return f"{self.name}-env-status"

    def role_arn(self, role_name: str) -> str:
        return f"arn:{partition_of(self.region)}:iam::{self.account}:role/{role_name}"

    @property
    def account_root_arn(self) -> str:
        return f"arn:{partition_of(self.region)}:iam::{self.account}:root"

    def deployed_parameter(self, stage: str) -> str:
        """The SSM parameter (tools account) the main pipeline writes once an environment is deployed and
        available; until it exists, the DAG pipeline has nothing to sync there."""
        return f"/{self.name}/deployed/{stage}"

    def deployed_parameter_arn(self, stage: str) -> str:
        partition = partition_of(self.region)
        return f"arn:{partition}:ssm:{self.region}:{self.account}:parameter{self.deployed_parameter(stage)}"


class UnknownEnvironmentError(LookupError):
    """An environment key that config does not define; its message lists the keys that exist."""

    def __init__(self, stage: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no environment {stage!r} in config (known: {', '.join(known)})")


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """The pipeline and every environment, in deployment order."""

    pipeline: PipelineConfig
    environments: tuple[EnvironmentConfig, ...]

    @property
    def waves(self) -> list[tuple[str, list[EnvironmentConfig]]]:
        """The environments grouped by wave, waves in the order their first environment has in config."""
        waves: dict[str, list[EnvironmentConfig]] = {}
        for env in self.environments:
            waves.setdefault(env.wave, []).append(env)
        return list(waves.items())

    def environment(self, stage: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.stage == stage:
                return env
        raise UnknownEnvironmentError(stage, tuple(e.stage for e in self.environments))


def frozen_mapping(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))
