"""The environment's customer-managed KMS key: created with rotation, or an existing one from config."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack, aws_iam as iam, aws_kms as kms
from constructs import Construct

from config import EnvironmentConfig


def allow_logs_to_use(key: kms.Key, *, sid: str, region: str, log_groups_arn: str) -> None:
    """Let CloudWatch Logs encrypt with `key`, for the log groups matching `log_groups_arn` only."""
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
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups_arn}},
        )
    )


class EnvironmentKey(Construct):
    """Encrypts the source bucket, the environment (metadata, queues) and its CloudWatch logs.

    A created key lets CloudWatch Logs use it only for this environment's `airflow-<name>-*` groups.
    An existing key must already allow that (see README); it is referenced, never modified.
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
        partition = Stack.of(self).partition
        log_groups = f"arn:{partition}:logs:{env_config.region}:{env_config.account}:log-group:airflow-{name}-*"
        allow_logs_to_use(
            key, sid="CloudWatchLogsForThisEnvironment", region=env_config.region, log_groups_arn=log_groups
        )
        self.key = key
