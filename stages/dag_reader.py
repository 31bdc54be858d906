"""For a private web server: the function in the environment's VPC that reads Airflow's view of the DAGs.

MWAA refuses InvokeRestApi from outside the VPC when the web server is private (MWAA user guide,
"Using the Apache Airflow REST API"), and the DAG sync that waits for the new DAGs runs in the tools
account, on CodeBuild's Lambda compute, which has no VPC. This function runs in the environment's
private subnets with its security group and calls InvokeRestApi through the VPC's `airflow.env`
endpoint; the DAG sync role may invoke it and nothing else of the environment's compute. It reads
(GET `/dags`, `/importErrors`, `/dagSources/<id>`) as Airflow's Viewer; the handler is
`stages/functions/dag_reader/index.py`.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import (
    Duration,
    RemovalPolicy,
    aws_ec2 as ec2,
    aws_iam as iam,
    aws_kms as kms,
    aws_lambda as lambda_,
    aws_logs as logs,
)
from constructs import Construct

from config import EnvironmentConfig
from stages.nag import acknowledge

CODE = Path(__file__).with_name("functions") / "dag_reader"
# InvokeRestApi gives up after 10 s (MWAA user guide); one question never needs more than that.
TIMEOUT = Duration.seconds(15)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


class DagReader(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        vpc: ec2.IVpc,
        subnets: list[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        name = env_config.dag_reader_function_name
        prefix = f"arn:{env_config.partition}:ec2:{env_config.region}:{env_config.account}"
        role = iam.Role(
            self,
            "Role",
            role_name=name,
            description=f"Reads Airflow's view of the DAGs of {env_config.environment_name} from inside its VPC",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            inline_policies={
                "dag-reader": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadAirflowAsViewer",
                            actions=["airflow:InvokeRestApi"],
                            resources=[
                                f"arn:{env_config.partition}:airflow:{env_config.region}:{env_config.account}:"
                                f"role/{env_config.environment_name}/Viewer"
                            ],
                        ),
                        # What Lambda needs of the role to attach the function to the VPC (the Lambda
                        # developer guide's VPC permissions), narrowed to this network where EC2 allows it.
                        iam.PolicyStatement(
                            sid="AttachToTheVpc",
                            actions=["ec2:CreateNetworkInterface"],
                            resources=[
                                f"{prefix}:network-interface/*",
                                *(f"{prefix}:subnet/{subnet.subnet_id}" for subnet in subnets),
                                f"{prefix}:security-group/{security_group.security_group_id}",
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="ManageItsNetworkInterfaces",
                            actions=[
                                "ec2:DeleteNetworkInterface",
                                "ec2:AssignPrivateIpAddresses",
                                "ec2:UnassignPrivateIpAddresses",
                            ],
                            resources=[f"{prefix}:network-interface/*"],
                        ),
                        iam.PolicyStatement(
                            sid="DescribeNetwork",
                            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
                            resources=["*"],
                        ),
                    ]
                )
            },
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=LOG_RETENTION,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=name,
            description=f"Reads Airflow's view of the DAGs of {env_config.environment_name} for the DAG sync",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(CODE), exclude=["__pycache__"]),
            role=role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=subnets),
            security_groups=[security_group],
            timeout=TIMEOUT,
            memory_size=256,
            environment={"ENVIRONMENT_NAME": env_config.environment_name},
            log_group=log_group,
        )
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets take no resource (EC2's service authorization "
            "reference); Lambda calls them with this role to attach the function to the VPC. Nothing else is on *.",
        )
        acknowledge(
            role,
            f"IAM5[Resource::{prefix}:network-interface/*]",
            "Lambda creates the function's network interfaces with generated IDs, so their ARNs cannot be named; "
            "creating one is limited to this environment's subnets and security group, and only Lambda can "
            "assume this role.",
        )
