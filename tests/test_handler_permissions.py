"""What CloudFormation calls in the environment accounts is what the execution policy allows.

CloudFormation's resource handlers publish the actions they call (the resource provider schemas,
as cfn-lint ships them). Every action of every resource type the stacks use, in every example
config, is evaluated against bootstrap/cfn-execution-policy.json by a real IAM evaluator, on the
ARNs CloudFormation would act on. An action it does not allow must be explained, with the reason it
is never called for the properties we set, in bootstrap/handler-actions-not-granted.toml.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import cx_api

from config import ProjectConfig, load_config
from deploytools.bootstrap_policies import document
from tests.conftest import ALL_OPTIONS, CROSS_REGION, ROOT
from tests.iam_evaluation import Request, StackContext, handler_permissions, key_policies, simulate

EXECUTION_POLICY = ROOT / "bootstrap" / "cfn-execution-policy.json"
NOT_GRANTED = ROOT / "bootstrap" / "handler-actions-not-granted.toml"
# The service a resource type hands its role to (iam:PassRole), and the service-linked role MWAA creates.
PASSED_TO = {
    "AWS::EC2::FlowLog": "vpc-flow-logs.amazonaws.com",
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::MWAA::Environment": "airflow.amazonaws.com",
}
SERVICE_LINKED = {"AWS::MWAA::Environment": "airflow.amazonaws.com"}
STACK_OUTPUTS = "Fn::GetStackOutput"


def environment_stacks(assembly: cx_api.CloudAssembly, project: ProjectConfig) -> list[StackContext]:
    """The stacks deployed in environment accounts, by the execution role (not the pipeline's)."""
    return [
        StackContext(name=s.stack_name, account=s.environment.account, region=s.environment.region, template=s.template)
        for s in assembly.stacks_recursively
        if s.environment.account != project.pipeline.account
    ]


def role_boundary(stack: StackContext, props: dict[str, Any], resource_type: str) -> str | None:
    """The boundary the role carries (for a policy: the role it is attached to)."""
    if resource_type == "AWS::IAM::Role":
        return stack.literal(props.get("PermissionsBoundary"))
    for role in props.get("Roles", []):
        target = stack.resources().get(role.get("Ref", "") if isinstance(role, dict) else "")
        if target:
            return stack.literal(target["Properties"].get("PermissionsBoundary"))
    return None


def stack_outputs_read(value: Any) -> Iterator[dict[str, str]]:
    if isinstance(value, dict):
        if STACK_OUTPUTS in value:
            yield value[STACK_OUTPUTS]
        for item in value.values():
            yield from stack_outputs_read(item)
    elif isinstance(value, list):
        for item in value:
            yield from stack_outputs_read(item)


def calls(stack: StackContext) -> Iterator[tuple[str, Request]]:
    """(what calls, the request) for every action CloudFormation makes for this stack."""
    principal = f"arn:aws:iam::{stack.account}:role/cdk-hnb659fds-cfn-exec-role-{stack.account}-{stack.region}"

    def request(action: str, resources: list[str], context: dict[str, str] | None = None) -> Request:
        return Request(
            action=action,
            resources=tuple(resources),
            account=stack.account,
            principal=principal,
            identity=(),
            context=context or {},
        )

    for logical_id, resource in stack.resources().items():
        resource_type = resource["Type"]
        props = resource.get("Properties", {})
        if resource_type.startswith("Custom::"):
            # CloudFormation invokes the provider function with the stack's role.
            yield resource_type, request("lambda:InvokeFunction", stack.referenced_arns(props["ServiceToken"]))
            continue
        candidates = [arn for arn in [stack.arn_of(logical_id), *stack.referenced_arns(props)] if arn]
        code = props.get("Code", {})
        if resource_type == "AWS::Lambda::Function" and "S3Bucket" in code:
            candidates.append(f"arn:aws:s3:::{stack.literal(code['S3Bucket'])}/{stack.literal(code['S3Key'])}")
        context = {}
        boundary = role_boundary(stack, props, resource_type) if resource_type.startswith("AWS::IAM::") else None
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
        if resource_type in PASSED_TO:
            context["iam:PassedToService"] = PASSED_TO[resource_type]
        if resource_type in SERVICE_LINKED:
            context["iam:AWSServiceName"] = SERVICE_LINKED[resource_type]
        for action in sorted(handler_permissions(resource_type, stack.region)):
            yield resource_type, request(action, candidates, context)
    for output in stack_outputs_read(stack.template["Resources"]):
        producer = f"arn:aws:cloudformation:{output['Region']}:{stack.account}:stack/{output['StackName']}/0f1e2d3c"
        yield STACK_OUTPUTS, request("cloudformation:DescribeStacks", [producer])


def not_granted_explained() -> dict[tuple[str, str], str]:
    entries = tomllib.loads(NOT_GRANTED.read_text())["not_granted"]
    return {(t, a): e["reason"] for e in entries for t in e["types"] for a in e["actions"]}


@pytest.fixture(scope="module")
def verdicts(
    assembly: cx_api.CloudAssembly,
    all_options_assembly: cx_api.CloudAssembly,
    cross_region_assembly: cx_api.CloudAssembly,
) -> dict[tuple[str, str], list[str]]:
    """(resource type, action) -> the evaluator's answer for each call, over every example config."""
    policies: dict[str, Any] = {}
    stacks: list[StackContext] = []
    requests: list[tuple[str, Request]] = []
    for built, project in (
        (assembly, load_config()),
        (all_options_assembly, load_config(ALL_OPTIONS)),
        (cross_region_assembly, load_config(CROSS_REGION)),
    ):
        for stack in environment_stacks(built, project):
            policy_name = f"{project.pipeline.name}/{stack.account}"
            policies[policy_name] = document(
                EXECUTION_POLICY, account=stack.account, boundary_name=project.pipeline.permissions_boundary_name
            )
            stacks.append(stack)
            requests += [(caller, replace(r, identity=(policy_name,))) for caller, r in calls(stack)]
    unique = {json.dumps([caller, r.action, r.resources, r.identity, r.context]): (caller, r) for caller, r in requests}
    answers = simulate(policies, [r for _, r in unique.values()], key_policies(stacks, [r for _, r in requests]))
    verdicts: dict[tuple[str, str], list[str]] = {}
    for (caller, r), answer in zip(unique.values(), answers, strict=True):
        verdicts.setdefault((caller, r.action), []).append(answer)
    return verdicts


def test_every_handler_action_is_allowed_or_explained(verdicts: dict[tuple[str, str], list[str]]) -> None:
    refused = {key for key, answers in verdicts.items() if any(a != "Allowed" for a in answers)}
    explained = set(not_granted_explained())
    unexplained = sorted(f"{t} {a}: {sorted(set(verdicts[(t, a)]))}" for t, a in refused - explained)
    stale = sorted(f"{t} {a}" for t, a in explained - refused)
    if unexplained or stale:
        pytest.fail(
            "\n".join(
                [
                    "not allowed and not explained in bootstrap/handler-actions-not-granted.toml:",
                    *unexplained,
                    "explained there but allowed, or no longer called (remove them):",
                    *stale,
                ]
            )
        )


def test_each_explanation_says_why(verdicts: dict[tuple[str, str], list[str]]) -> None:
    for (resource_type, action), reason in not_granted_explained().items():
        says_why = re.search(r"\b(never|not|no|only)\b", reason, re.IGNORECASE)
        assert len(reason) > 40 and says_why, (resource_type, action)


@pytest.mark.parametrize(
    ("caller", "action"),
    [
        ("AWS::Lambda::Function", "s3:GetObject"),  # the code of CDK's custom-resource functions
        ("AWS::Lambda::Function", "s3:GetObjectVersion"),
        ("AWS::MWAA::Environment", "ec2:CreateNetworkInterface"),
        ("AWS::MWAA::Environment", "s3:ListBucketVersions"),
        ("AWS::MWAA::Environment", "kms:ListAliases"),
        (STACK_OUTPUTS, "cloudformation:DescribeStacks"),  # weak cross-stack references
    ],
)
def test_what_the_first_deploy_needs_is_allowed(
    verdicts: dict[tuple[str, str], list[str]], caller: str, action: str
) -> None:
    assert verdicts[(caller, action)] and set(verdicts[(caller, action)]) == {"Allowed"}
