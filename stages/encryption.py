"""The environment's customer-managed KMS key: created with rotation, or an existing one from config."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack, aws_iam as iam, aws_kms as kms
from constructs import Construct

from config import EnvironmentConfig


def allow_logs_to_use(key: kms.Key, *, sid: str, region: str, log_groups_arns: list[str]) -> None:
    """Let CloudWatch Logs encrypt with `key`, for the log groups matching `log_groups_arns` only."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
            actions=[
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": log_groups_arns[0]
                    if len(log_groups_arns) == 1
                    else log_groups_arns
                }
            },
        )
    )


def flow_log_group_name(env_config: EnvironmentConfig) -> str:
    return f"/mwaa/{env_config.environment_name}/vpc-flow-logs"


def log_groups_arns(env_config: EnvironmentConfig, partition: str) -> list[str]:
    """Every log group of this environment the key encrypts: MWAA's own (`airflow-<name>-*`), the VPC
    flow logs (`/mwaa/<name>/*`), the MWAA stack's custom-resource function's
    (`/aws/lambda/<stage>-mwaa-*`: CloudFormation names the function after its stack) and the DAG
    reader's (`/aws/lambda/<name>-dag-reader`)."""
    prefix = f"arn:{partition}:logs:{env_config.region}:{env_config.account}:log-group:"
    return [
        f"{prefix}airflow-{env_config.environment_name}-*",
        f"{prefix}/mwaa/{env_config.environment_name}/*",
        f"{prefix}/aws/lambda/{env_config.stage}-mwaa-*",
        f"{prefix}/aws/lambda/{env_config.dag_reader_function_name}",
    ]


class EnvironmentKey(Construct):
    """Encrypts the source bucket, the environment (metadata, queues) and every log group of the environment.

    A created key lets CloudWatch Logs use it only for this environment's log groups (`log_groups_arns`).
    An existing key must already allow that (see docs/configuration.md); it is referenced, never modified.
    """

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        name = env_config.environment_name
        if env_config.kms_key != "create":
            self.key: kms.IKey = kms.Key.from_key_arn(self, "Key", str(env_config.kms_key))
            return
        key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            alias=f"alias/mwaa/{name}",
            description=f"MWAA {name}: source bucket, environment and logs",
            removal_policy=RemovalPolicy.RETAIN if env_config.protected else RemovalPolicy.DESTROY,
        )
        allow_logs_to_use(
            key,
            sid="CloudWatchLogsForThisEnvironment",
            region=env_config.region,
            log_groups_arns=log_groups_arns(env_config, Stack.of(self).partition),
        )
        self.key = key
