"""Typed, immutable configuration objects.

Standard library only: the DAG tools read these in CodeBuild, where aws_cdk is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

LOG_TYPES = ("dag_processing", "scheduler", "task", "webserver", "worker")
DAGS_PREFIX = "dags/"


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
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    nat_gateways: int
    tags: Mapping[str, str]
    approval: bool
    protected: bool

    @property
    def execution_role_name(self) -> str:
        return f"{self.environment_name}-execution"

    @property
    def dag_sync_role_name(self) -> str:
        return f"{self.environment_name}-dag-sync"

    @property
    def dag_sync_role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.dag_sync_role_name}"

    @property
    def environment_arn(self) -> str:
        return f"arn:aws:airflow:{self.region}:{self.account}:environment/{self.environment_name}"


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Every environment, in deployment order."""

    environments: tuple[EnvironmentConfig, ...]

    def environment(self, stage: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.stage == stage:
                return env
        known = ", ".join(e.stage for e in self.environments)
        raise KeyError(f"no environment {stage!r} in config (known: {known})")


def frozen_mapping(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))
