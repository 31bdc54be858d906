"""The role the DAG pipeline and the seed step assume to write `dags/`, and nothing else."""

from __future__ import annotations

from aws_cdk import Stack, aws_iam as iam
from constructs import Construct

from config import DAGS_PREFIX, EnvironmentConfig, PipelineConfig
from stages.nag import acknowledge
from stages.tools_trust import tools_roles


class DagSyncRole(Construct):
    """List the `dags/` prefix, read, write and delete objects under it, and read Airflow's view of the
    DAGs as its Viewer, directly or, for a private web server, through the environment's DAG reader (to
    confirm a sync went live); trusted by two tools-account roles.

    requirements.txt, plugins.zip and startup.sh live beside `dags/` and go through CloudFormation
    (an environment update), so this role cannot touch them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        pipeline: PipelineConfig,
        key_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket_arn = f"arn:{Stack.of(self).partition}:s3:::{env_config.bucket_name}"
        dags_arn = f"{bucket_arn}/{DAGS_PREFIX}*"
        statements = [
            iam.PolicyStatement(
                sid="ListDagsPrefix",
                actions=["s3:ListBucket"],
                resources=[bucket_arn],
                conditions={"StringLike": {"s3:prefix": [DAGS_PREFIX, f"{DAGS_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="WriteDags",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[dags_arn],
            ),
        ]
        if env_config.private_web_server:
            # MWAA refuses InvokeRestApi from outside a private web server's VPC: the reader inside it asks.
            statements.append(
                iam.PolicyStatement(
                    sid="AskTheDagReader",
                    actions=["lambda:InvokeFunction"],
                    resources=[env_config.dag_reader_function_arn],
                )
            )
        else:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadAirflowAsViewer",
                    actions=["airflow:InvokeRestApi"],
                    # Airflow's least role that reads DAGs, their sources and import errors, in this environment.
                    resources=[
                        f"arn:{env_config.partition}:airflow:{env_config.region}:{env_config.account}:role/"
                        f"{env_config.environment_name}/Viewer"
                    ],
                )
            )
        if key_arn:
            statements.append(
                iam.PolicyStatement(
                    sid="UseBucketKey",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{env_config.region}.amazonaws.com"}},
                )
            )
        self.role = iam.Role(
            self,
            "Role",
            role_name=env_config.dag_sync_role_name,
            description=f"Syncs {DAGS_PREFIX} of {env_config.bucket_name} from the DAG pipeline",
            assumed_by=tools_roles(pipeline, pipeline.dag_sync_role_name, pipeline.seed_role_name),
            inline_policies={"dag-sync": iam.PolicyDocument(statements=statements)},
        )
        acknowledge(
            self.role,
            f"IAM5[Resource::{dags_arn}]",
            "The sync adds, updates and removes any DAG file, so it needs every key under dags/ and only there.",
        )
