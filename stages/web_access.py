"""Who may open the Airflow UI, and as which Airflow role (Admin, Op, User, Viewer).

For each role named in config: a managed policy allowing airflow:CreateWebLoginToken as that role on
this environment only (attach it to existing roles or SSO permission sets), and, when principals
are listed, a role they can assume that has it.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, aws_iam as iam
from constructs import Construct

from config import EnvironmentConfig


class WebAccess(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        name = env_config.environment_name
        partition = Stack.of(self).partition
        for airflow_role, principals in env_config.web_access.items():
            policy = iam.ManagedPolicy(
                self,
                f"{airflow_role}Policy",
                managed_policy_name=env_config.web_login_role_name(airflow_role),
                description=f"Log in to the Airflow UI of {name} as {airflow_role}",
                statements=[
                    iam.PolicyStatement(
                        actions=["airflow:CreateWebLoginToken"],
                        resources=[
                            f"arn:{partition}:airflow:{env_config.region}:{env_config.account}:role/{name}/{airflow_role}"
                        ],
                    )
                ],
            )
            CfnOutput(self, f"{airflow_role}LoginPolicy", value=policy.managed_policy_arn)
            if principals:
                role = iam.Role(
                    self,
                    f"{airflow_role}Role",
                    role_name=env_config.web_login_role_name(airflow_role),
                    description=f"Assume to log in to the Airflow UI of {name} as {airflow_role}",
                    assumed_by=iam.CompositePrincipal(*(iam.ArnPrincipal(p) for p in principals)),
                    managed_policies=[policy],
                )
                CfnOutput(self, f"{airflow_role}LoginRole", value=role.role_arn)
