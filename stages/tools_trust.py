"""Trust in the tools account's pipeline roles, by name, from roles in an environment account."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

from config import PipelineConfig


def tools_roles(pipeline: PipelineConfig, *role_names: str) -> iam.IPrincipal:
    """The tools account, limited by `aws:PrincipalArn` to the named roles.

    A role ARN as principal is turned into the role's unique ID when the policy is saved: if the
    pipeline stack were ever deleted and recreated, the trust would point at a dead ID and every
    sync would get AccessDenied. The account plus a condition on the ARN survives that.
    """
    return iam.PrincipalWithConditions(
        iam.ArnPrincipal(pipeline.account_root_arn),
        {"ArnEquals": {"aws:PrincipalArn": sorted(pipeline.role_arn(name) for name in role_names)}},
    )
