"""Retention for the log groups MWAA creates, set without taking them over.

MWAA creates `airflow-<name>-<Type>` itself; owning them in CloudFormation would fight it (and
delete logs with the stack). A custom resource calls PutRetentionPolicy after the environment
exists, allowed only on this environment's log groups, and leaves the groups alone on delete. A group
MWAA has not created yet is skipped (ResourceNotFoundException), never a failed, rolled-back stack.
"""

from __future__ import annotations

from aws_cdk import Stack, aws_iam as iam, aws_lambda as lambda_, custom_resources as cr
from constructs import Construct

from config import EnvironmentConfig
from stages.nag import acknowledge

MWAA_LOG_GROUP_SUFFIXES = ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")


class MwaaLogRetention(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = f"airflow-{env_config.environment_name}-"
        groups_arn = f"arn:{stack.partition}:logs:{env_config.region}:{env_config.account}:log-group:{prefix}*"
        self.resources = []
        for suffix in MWAA_LOG_GROUP_SUFFIXES:
            call = cr.AwsSdkCall(
                service="CloudWatchLogs",
                action="putRetentionPolicy",
                parameters={"logGroupName": prefix + suffix, "retentionInDays": env_config.log_retention_days},
                physical_resource_id=cr.PhysicalResourceId.of(prefix + suffix),
                # A group MWAA has not created yet must not fail the stack: a rollback would delete the
                # environment just created. Retention is set when the resource next updates.
                ignore_error_codes_matching="ResourceNotFoundException",
            )
            self.resources.append(
                cr.AwsCustomResource(
                    self,
                    suffix,
                    on_create=call,
                    on_update=call,
                    policy=cr.AwsCustomResourcePolicy.from_statements(
                        [iam.PolicyStatement(actions=["logs:PutRetentionPolicy"], resources=[groups_arn])]
                    ),
                    install_latest_aws_sdk=False,
                )
            )
        provider = stack.node.find_child(f"AWS{cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace('-', '')}")
        assert isinstance(provider, lambda_.Function)
        self.provider = provider
        acknowledge(
            provider,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's custom-resource function writes only its own logs with this AWS policy (logs:CreateLogGroup, "
            "CreateLogStream, PutLogEvents); it is the function's only managed policy.",
        )
        for resource in self.resources:
            acknowledge(
                resource,
                f"IAM5[Resource::{groups_arn}]",
                "MWAA names its log groups airflow-<environment>-<type>; the grant covers this environment's only.",
            )
