"""The one-time account set-up: the CloudFormation execution policy and the roles' permissions boundary."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk import cx_api

from deploytools.bootstrap_policies import document
from tests.conftest import ROOT
from tests.iam_evaluation import Request, StackContext, key_policies, simulate, stage_contexts

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


def role_statements(stack: StackContext) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role ARN, one Allow statement it is given) for every role of the stack, references resolved."""
    resources = stack.resources()
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        role_arn = stack.arn_of(logical_id)
        assert role_arn
        documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
        documents += [
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": logical_id} in r["Properties"].get("Roles", [])
        ]
        managed = resource["Properties"].get("ManagedPolicyArns", [])
        if any("AWSLambdaBasicExecutionRole" in json.dumps(arn) for arn in managed):
            documents.append({"Statement": [{"Effect": "Allow", "Action": LAMBDA_BASIC, "Resource": "*"}]})
        for policy_document in documents:
            for statement in policy_document["Statement"]:
                if statement["Effect"] == "Allow":
                    yield role_arn, only_strings(stack.resolved(statement))


def only_strings(value: Any) -> Any:
    """What needs deployed state to resolve (a security group's ID, another stack's output) becomes *."""
    if isinstance(value, list):
        return [only_strings(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return "*"
        return {k: only_strings(v) for k, v in value.items()}
    return value


def request_context(statement: dict[str, Any]) -> dict[str, str]:
    """Values that satisfy the statement's own conditions: the calls the role is meant to make."""
    context: dict[str, str] = {}
    for operator, keys in statement.get("Condition", {}).items():
        for key, values in keys.items():
            value = as_list(values)[0]
            context[key] = value.replace("*", "x") if "Like" in operator else value
    return context


def instances(patterns: list[str]) -> list[str]:
    """A concrete resource each granted pattern covers (the evaluator reads a `*` in a request's resource
    as "any"), and a stream in each log group, for the actions that act on streams. A log group keeps the
    `:*` CloudWatch Logs gives its ARN (`Fn::GetAtt Arn`), the form its group-level actions are granted on."""
    found = []
    for pattern in patterns:
        if pattern == "*":
            found.append(pattern)
            continue
        group = pattern.removesuffix(":*") if ":log-group:" in pattern else pattern
        instance = group.replace("*", "sample")
        if ":log-group:" in instance and ":log-stream:" not in instance:
            found += [f"{instance}:log-stream:sample", f"{instance}:*"]
        else:
            found.append(instance)
    return found


def test_the_boundary_allows_everything_the_environment_roles_need(
    assembly: cx_api.CloudAssembly,
    all_options_assembly: cx_api.CloudAssembly,
    cross_region_assembly: cx_api.CloudAssembly,
) -> None:
    """Each role's own statements, evaluated under the boundary by the IAM evaluator, are allowed: a
    boundary narrower than a role's policy would break that role silently in AWS."""
    policies: dict[str, Any] = {}
    stacks: list[StackContext] = []
    requests: list[Request] = []
    for built in (assembly, all_options_assembly, cross_region_assembly):
        stage = stage_contexts([a for a in built.stacks_recursively if "pipeline" not in a.stack_name])
        for stack in stage:
            stacks.append(stack)
            boundary = f"boundary/{stack.account}"
            policies[boundary] = document(
                BOOTSTRAP / "permissions-boundary.json", account=stack.account, boundary_name="boundary"
            )
            for role_arn, statement in role_statements(stack):
                policies[f"{role_arn}/{len(policies)}"] = {"Version": "2012-10-17", "Statement": [statement]}
                resources = tuple(instances(as_list(statement.get("Resource", "*"))))
                requests += [
                    Request(
                        action=action,
                        resources=resources,
                        account=stack.account,
                        principal=role_arn,
                        identity=(f"{role_arn}/{len(policies) - 1}",),
                        boundary=(boundary,),
                        context=request_context(statement),
                    )
                    for action in as_list(statement["Action"])
                ]
    assert len(requests) > 100
    answers = simulate(policies, requests, key_policies(stacks, requests))
    verdicts = zip(requests, answers, strict=True)
    refused = sorted({f"{r.principal} {r.action} {r.resources}: {a}" for r, a in verdicts if a != "Allowed"})
    if refused:
        pytest.fail("\n".join(["not allowed under the boundary:", *refused]))


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


@pytest.mark.parametrize("action", ["iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy"])
def test_cloudformation_changes_only_roles_that_carry_the_boundary(action: str) -> None:
    """Deleting a role or rewriting its trust is as dangerous as creating one: the evaluator must refuse
    both on any role of the account that does not carry our boundary (an administrator's, CDK's own)."""
    account = "111111111111"
    execution = document(BOOTSTRAP / "cfn-execution-policy.json", account=account, boundary_name="b")
    ours = f"arn:aws:iam::{account}:policy/b"

    def call(boundary: str | None) -> Request:
        return Request(
            action=action,
            resources=(f"arn:aws:iam::{account}:role/SomeRole",),
            account=account,
            principal=f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-eu-west-1",
            identity=("execution",),
            context={"iam:PermissionsBoundary": boundary} if boundary else {},
        )

    answers = simulate({"execution": execution}, [call(ours), call(None), call(f"arn:aws:iam::{account}:policy/x")])
    assert answers == ["Allowed", "ImplicitlyDenied", "ImplicitlyDenied"]
