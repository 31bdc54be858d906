"""The MWAA execution role: the user-guide policy, scoped to one environment and its bucket."""

from __future__ import annotations

from aws_cdk import Aws, aws_iam as iam
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

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        name = env_config.environment_name
        bucket_arn = f"arn:{Aws.PARTITION}:s3:::{env_config.bucket_name}"
        log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:airflow-{name}-*"
        environment_arn = f"arn:{Aws.PARTITION}:airflow:{Aws.REGION}:{Aws.ACCOUNT_ID}:environment/{name}"
        deputy_conditions = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
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
                resources=[log_groups],
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
                resources=[f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:*:airflow-celery-*"],
            ),
            iam.PolicyStatement(
                sid="AwsOwnedKeyForSqs",
                actions=["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                not_resources=[f"arn:{Aws.PARTITION}:kms:*:{Aws.ACCOUNT_ID}:key/*"],
                conditions={"StringLike": {"kms:ViaService": [f"sqs.{Aws.REGION}.amazonaws.com"]}},
            ),
        ]
        self.role = iam.Role(
            self,
            "Role",
            role_name=env_config.execution_role_name,
            description=f"MWAA execution role of {name}",
            assumed_by=iam.CompositePrincipal(
                *(iam.PrincipalWithConditions(iam.ServicePrincipal(p), deputy_conditions) for p in SERVICE_PRINCIPALS)
            ),
            inline_policies={"mwaa-execution": iam.PolicyDocument(statements=statements)},
        )
        self._acknowledge_documented_wildcards(env_config)

    def _acknowledge_documented_wildcards(self, env_config: EnvironmentConfig) -> None:
        name = env_config.environment_name
        bucket_scoped = "scoped to this environment's own source bucket."
        reasons = {
            "Action::s3:GetObject*": f"MWAA reads DAGs, requirements and plugins, with their versions; {bucket_scoped}",
            "Action::s3:GetBucket*": f"MWAA checks versioning, encryption and public access; {bucket_scoped}",
            "Action::s3:List*": f"MWAA lists objects and object versions; {bucket_scoped}",
            f"Resource::arn:<AWS::Partition>:s3:::{env_config.bucket_name}/*": f"MWAA reads objects; {bucket_scoped}",
            f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:airflow-{name}-*": (
                "MWAA creates one log group per log type, all named airflow-<environment>-*; this environment only."
            ),
            "Resource::*": (
                "logs:DescribeLogGroups, s3:GetAccountPublicAccessBlock and cloudwatch:PutMetricData support no "
                "resource-level permissions (MWAA user guide policy)."
            ),
            "Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:*:airflow-celery-*": (
                "MWAA's Celery queues live in a service-owned account unknown in advance; the name prefix scopes them."
            ),
            "Action::kms:GenerateDataKey*": (
                "The AWS-owned key MWAA uses for its SQS queues; restricted to SQS by kms:ViaService."
            ),
        }
        for finding, reason in reasons.items():
            acknowledge(self.role, f"IAM5[{finding}]", reason)
