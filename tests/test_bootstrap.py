"""The one-time account set-up: the CloudFormation execution policy and the roles' permissions boundary."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from tests.conftest import ROOT

BOOTSTRAP = ROOT / "bootstrap"
# What AWSLambdaBasicExecutionRole (used by CDK's custom-resource providers) grants.
LAMBDA_BASIC = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]


def policy(name: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads((BOOTSTRAP / name).read_text())["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_we_wrote_allows_star_or_a_whole_service() -> None:
    for name in ("cfn-execution-policy.json", "permissions-boundary.json"):
        for statement in policy(name):
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (name, action)


def test_cloudformation_creates_roles_only_with_the_boundary() -> None:
    [statement] = [s for s in policy("cfn-execution-policy.json") if "iam:CreateRole" in as_list(s["Action"])]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::ACCOUNT:policy/BOUNDARY_NAME"}
    }


def test_the_boundary_denies_identity_changes() -> None:
    [deny] = [s for s in policy("permissions-boundary.json") if s["Effect"] == "Deny"]
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:CreateUser"} <= set(deny["Action"])


def test_the_boundary_allows_everything_the_environment_roles_need(templates: dict[str, dict[str, Any]]) -> None:
    """A boundary narrower than a role's own policy would break that role silently in AWS."""
    allowed = [a for s in policy("permissions-boundary.json") if s["Effect"] == "Allow" for a in as_list(s["Action"])]
    needed: set[str] = set(LAMBDA_BASIC)
    for name, template in templates.items():
        if name.endswith("-pipeline"):
            continue
        for resource in template["Resources"].values():
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(resource["Properties"]["PolicyDocument"])
            if resource["Type"] == "AWS::IAM::Role" or resource["Type"] == "AWS::IAM::Policy":
                for document in documents:
                    for statement in document["Statement"]:
                        if statement["Effect"] == "Allow":
                            needed.update(as_list(statement["Action"]))
    missing = sorted(a for a in needed if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed))
    assert missing == []


# The service whose API CloudFormation calls for each resource type the environment stacks use.
SERVICE_OF = {
    "AWS::CloudWatch": "cloudwatch",
    "AWS::EC2": "ec2",
    "AWS::IAM": "iam",
    "AWS::KMS": "kms",
    "AWS::Lambda": "lambda",
    "AWS::Logs": "logs",
    "AWS::MWAA": "airflow",
    "AWS::S3": "s3",
    "AWS::SNS": "sns",
    "Custom": "lambda",
}


def test_cloudformation_may_manage_every_resource_type_the_stacks_use(templates: dict[str, dict[str, Any]]) -> None:
    granted = {
        a.split(":")[0]
        for s in policy("cfn-execution-policy.json")
        if s["Effect"] == "Allow"
        for a in as_list(s["Action"])
    }
    types = {
        r["Type"]
        for name, template in templates.items()
        if not name.endswith("-pipeline")
        for r in template["Resources"].values()
    }
    prefixes = {t if t.startswith("Custom::") else t.rsplit("::", 1)[0] for t in types}
    prefixes = {"Custom" if p.startswith("Custom::") else p for p in prefixes}
    assert prefixes <= set(SERVICE_OF), prefixes - set(SERVICE_OF)
    assert {SERVICE_OF[p] for p in prefixes} <= granted


def test_bootstrap_creates_the_policies_then_updates_them_from_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against moto's IAM over HTTP: created once, unchanged when git is, a new default version when it is
    not, and at IAM's limit of five versions the oldest non-default one makes room."""
    import boto3

    from deploytools.bootstrap_policies import MAX_VERSIONS, document, ensure_policy, main
    from tests.s3server import S3Server, client_environment

    with S3Server() as server:
        for name, value in {**client_environment(server.url), "AWS_ENDPOINT_URL": server.url}.items():
            monkeypatch.setenv(name, value)
        iam = boto3.client("iam")
        account = "123456789012"  # moto's account
        assert main(["--account", account, "--boundary-name", "b", "--execution-name", "x"]) == 0
        boundary_arn = f"arn:aws:iam::{account}:policy/b"
        wanted = document(BOOTSTRAP / "permissions-boundary.json", account=account, boundary_name="b")
        assert ensure_policy(iam, account=account, name="b", wanted=wanted) == "policy b is up to date"
        assert len(iam.list_policy_versions(PolicyArn=boundary_arn)["Versions"]) == 1

        edited = {
            **wanted,
            "Statement": [*wanted["Statement"], {"Effect": "Deny", "Action": "s3:PutBucketAcl", "Resource": "*"}],
        }
        for round_number in range(2, MAX_VERSIONS + 3):
            edited["Statement"][-1]["Action"] = f"s3:PutBucketAcl{round_number}"
            message = ensure_policy(iam, account=account, name="b", wanted=edited)
            assert message.startswith("updated policy b: version v") and message.endswith("is now the default")
            versions = iam.list_policy_versions(PolicyArn=boundary_arn)["Versions"]
            assert len(versions) == min(round_number, MAX_VERSIONS)
            [default] = [v for v in versions if v["IsDefaultVersion"]]
            body = iam.get_policy_version(PolicyArn=boundary_arn, VersionId=default["VersionId"])["PolicyVersion"]
            assert f"s3:PutBucketAcl{round_number}" in json.dumps(body["Document"])
        assert "v1" not in {v["VersionId"] for v in versions}  # the oldest made room


def test_cloudformation_may_change_only_the_web_login_policies(all_options_templates: dict[str, Any]) -> None:
    """Policy-management actions reach the web-login policies the stacks create, never the boundary or the
    execution policy themselves (a stack could otherwise rewrite the ceiling it runs under)."""
    [statement] = [s for s in policy("cfn-execution-policy.json") if s.get("Sid") == "WebLoginPolicies"]
    allowed = as_list(statement["Resource"])
    created = [
        resource["Properties"]["ManagedPolicyName"]
        for template in all_options_templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert created
    for name in created:
        assert any(fnmatch.fnmatchcase(f"arn:aws:iam::ACCOUNT:policy/{name}", arn) for arn in allowed), name
    for ours in ("BOUNDARY_NAME", "mwaa-platform-boundary", "mwaa-platform-cfn-exec", "analytics-mwaa-cfn-exec"):
        assert not any(fnmatch.fnmatchcase(f"arn:aws:iam::ACCOUNT:policy/{ours}", arn) for arn in allowed), ours
