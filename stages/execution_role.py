"""The MWAA execution role: the user-guide policy, scoped to one environment and its bucket."""

from __future__ import annotations

from aws_cdk import Stack, aws_iam as iam
from constructs import Construct

from config import EnvironmentConfig
from stages.nag import acknowledge

SERVICE_PRINCIPALS = ("airflow.amazonaws.com", "airflow-env.amazonaws.com")


class ExecutionRole(Construct):
    """What Airflow's schedulers, workers and web server run as.

    Follows the MWAA user guide's policy with every resource narrowed to this environment
    (its ARN, its log groups, its bucket); no `s3:*`, no `kms:PutKeyPolicy`. The trust policy
    carries the confused-deputy conditions the guide recommends.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, key_arn: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        name = env_config.environment_name
        # The stack's account and region are literals here, so the policy reads as it applies.
        partition, region, account = Stack.of(self).partition, env_config.region, env_config.account
        bucket_arn = f"arn:{partition}:s3:::{env_config.bucket_name}"
        self.log_groups_arn = f"arn:{partition}:logs:{region}:{account}:log-group:airflow-{name}-*"
        self.celery_queues_arn = f"arn:{partition}:sqs:{region}:*:airflow-celery-*"
        self.environment_arn = f"arn:{partition}:airflow:{region}:{account}:environment/{name}"
        environment_arn = self.environment_arn
        deputy_conditions = {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": environment_arn},
        }
        statements = [
            iam.PolicyStatement(
                sid="PublishMetrics",
                actions=["airflow:PublishMetrics"],
                resources=[environment_arn],
            ),
            iam.PolicyStatement(
                sid="DenyListAllBuckets",
                effect=iam.Effect.DENY,
                actions=["s3:ListAllMyBuckets"],
                resources=[bucket_arn, f"{bucket_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="ReadSourceBucket",
                actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                resources=[bucket_arn, f"{bucket_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=[
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                resources=[self.log_groups_arn],
            ),
            iam.PolicyStatement(sid="DescribeLogGroups", actions=["logs:DescribeLogGroups"], resources=["*"]),
            iam.PolicyStatement(
                sid="CheckAccountPublicAccessBlock", actions=["s3:GetAccountPublicAccessBlock"], resources=["*"]
            ),
            iam.PolicyStatement(sid="PutMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"]),
            iam.PolicyStatement(
                sid="CeleryQueues",
                actions=[
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                resources=[self.celery_queues_arn],
            ),
            self._key_statement(key_arn, partition=partition, region=region, account=account),
        ]
        self._config_findings: list[tuple[str, str]] = []
        statements += self._statements_from_config(env_config, partition=partition)
        self.role = iam.Role(
            self,
            "Role",
            role_name=env_config.execution_role_name,
            description=f"MWAA execution role of {name}",
            assumed_by=iam.CompositePrincipal(
                *(iam.PrincipalWithConditions(iam.ServicePrincipal(p), deputy_conditions) for p in SERVICE_PRINCIPALS)
            ),
            inline_policies={"mwaa-execution": iam.PolicyDocument(statements=statements)},
            managed_policies=[
                iam.ManagedPolicy.from_managed_policy_arn(self, f"Managed{i}", arn)
                for i, arn in enumerate(env_config.execution_role_managed_policies)
            ],
        )
        self._acknowledge_documented_wildcards(bucket_arn)
        for rule, reason in self._config_findings:
            acknowledge(self.role, rule, reason)

    def _statements_from_config(self, env_config: EnvironmentConfig, *, partition: str) -> list[iam.PolicyStatement]:
        """What the DAGs need beyond MWAA's own policy: config statements and the secrets backend."""
        reason = (
            "Declared for the DAGs in config/environments.toml (execution_role_statements), reviewed with the "
            "commit that added it; config validation refuses '*' and 'service:*' actions."
        )
        statements = []
        for index, extra in enumerate(env_config.execution_role_statements):
            statements.append(
                iam.PolicyStatement(
                    sid=f"FromConfig{index}", actions=list(extra.actions), resources=list(extra.resources)
                )
            )
            for finding in [f"Action::{a}" for a in extra.actions if "*" in a] + [
                f"Resource::{r}" for r in extra.resources if "*" in r
            ]:
                self._config_findings.append((f"IAM5[{finding}]", reason))
        for arn in env_config.execution_role_managed_policies:
            if ":iam::aws:policy/" in arn:
                self._config_findings.append(
                    (
                        f"IAM4[Policy::{arn}]",
                        "An AWS managed policy the DAGs' owners chose in config (execution_role_managed_policies); "
                        "the permissions boundary still caps it.",
                    )
                )
        prefix = env_config.secrets_manager_prefix
        if prefix:
            secrets = f"arn:{partition}:secretsmanager:{env_config.region}:{env_config.account}:secret:{prefix}/*"
            statements.append(
                iam.PolicyStatement(
                    sid="SecretsBackend",
                    actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    resources=[secrets],
                )
            )
            self._config_findings.append(
                (
                    f"IAM5[Resource::{secrets}]",
                    f"Airflow's Secrets Manager backend reads connections and variables stored under {prefix}/ only.",
                )
            )
        return statements

    @staticmethod
    def _key_statement(key_arn: str | None, *, partition: str, region: str, account: str) -> iam.PolicyStatement:
        """Our key, used through SQS and S3 only; or, without one, the AWS-owned key MWAA uses for SQS."""
        actions = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
        if key_arn:
            return iam.PolicyStatement(
                sid="EnvironmentKey",
                actions=actions,
                resources=[key_arn],
                conditions={
                    "StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]}
                },
            )
        return iam.PolicyStatement(
            sid="AwsOwnedKeyForSqs",
            actions=actions,
            not_resources=[f"arn:{partition}:kms:*:{account}:key/*"],
            conditions={"StringLike": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
        )

    def _acknowledge_documented_wildcards(self, bucket_arn: str) -> None:
        bucket_scoped = "scoped to this environment's own source bucket."
        reasons = {
            "Action::s3:GetObject*": f"MWAA reads DAGs, requirements and plugins, with their versions; {bucket_scoped}",
            "Action::s3:GetBucket*": f"MWAA checks versioning, encryption and public access; {bucket_scoped}",
            "Action::s3:List*": f"MWAA lists objects and object versions; {bucket_scoped}",
            f"Resource::{bucket_arn}/*": f"MWAA reads objects; {bucket_scoped}",
            f"Resource::{self.log_groups_arn}": (
                "MWAA creates one log group per log type, all named airflow-<environment>-*; this environment only."
            ),
            "Resource::*": (
                "logs:DescribeLogGroups, s3:GetAccountPublicAccessBlock and cloudwatch:PutMetricData support no "
                "resource-level permissions (MWAA user guide policy)."
            ),
            f"Resource::{self.celery_queues_arn}": (
                "MWAA's Celery queues live in a service-owned account unknown in advance; the name prefix scopes them."
            ),
            "Action::kms:GenerateDataKey*": (
                "Data keys of the environment's key (or the AWS-owned one MWAA uses), only through SQS and S3 "
                "(kms:ViaService)."
            ),
        }
        for finding, reason in reasons.items():
            acknowledge(self.role, f"IAM5[{finding}]", reason)
