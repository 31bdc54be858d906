"""A role that can read one environment's status and nothing else, for the pipeline's post-deploy check."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from config import EnvironmentConfig, PipelineConfig
from stages.tools_trust import tools_roles


class StatusReaderRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        pipeline: PipelineConfig,
        environment_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            role_name=env_config.status_reader_role_name,
            description=f"Lets the delivery pipeline see whether {env_config.environment_name} is AVAILABLE",
            assumed_by=tools_roles(pipeline, pipeline.status_check_role_name),
            inline_policies={
                "read-status": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="GetEnvironment", actions=["airflow:GetEnvironment"], resources=[environment_arn]
                        )
                    ]
                )
            },
        )
