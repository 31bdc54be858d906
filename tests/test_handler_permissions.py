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
from deploytools.bootstrap_policies import bucket_objects_of, document
from tests.conftest import ALL_OPTIONS, CROSS_REGION, ROOT
from tests.iam_evaluation import (
    Request,
    StackContext,
    handler_permissions,
    key_policies,
    provider_schema,
    simulate,
    stage_contexts,
)

EXECUTION_POLICY = ROOT / "bootstrap" / "cfn-execution-policy.json"
NOT_GRANTED = ROOT / "bootstrap" / "handler-actions-not-granted.toml"
# The service a resource type hands its role to (iam:PassRole), and the service-linked role MWAA creates.
PASSED_TO = {
    "AWS::EC2::FlowLog": "vpc-flow-logs.amazonaws.com",
    "AWS::Lambda::Function": "lambda.amazonaws.com",
    "AWS::MWAA::Environment": "airflow.amazonaws.com",
}
SERVICE_LINKED = {"AWS::MWAA::Environment": "airflow.amazonaws.com"}
# What a service makes in the account while its handler runs, under an ID only the service knows: a
# concrete ID of the service's format (the evaluator reads a `*` in a request's resource as "any", which
# would let a grant on some other resource answer for it).
SERVICE_MADE = {
    "AWS::MWAA::Environment": (
        "arn:aws:ec2:{region}:{account}:network-interface/eni-0a1b2c3d4e5f60718",  # its ENIs in our subnets
        "arn:aws:ec2:{region}:{account}:vpc-endpoint/vpce-0a1b2c3d4e5f60718",  # its endpoints (SERVICE)
        "arn:aws:iam::{account}:policy/service-role/MWAA-Execution-Policy-0a1b2c3d",  # if it made its own role
    ),
}
OBJECT_WRITTEN = "handler-written-object"  # a key a handler writes in a bucket it is given
# Who a person may attach a web-login policy to by hand (docs/configuration.md, web_access with no
# principals): the managed policy's delete handler detaches it from every one of them.
ATTACHED_BY_HAND = ("role/a-person-s-role", "user/a-person", "group/a-team")

# Actions a handler calls only when the resource sets a property (the provider's code and the service's
# API reference): where the property is absent there is nothing for the call to act on.
CALLED_ONLY_WITH = {
    ("AWS::MWAA::Environment", "kms:"): "KmsKey",  # grants on the customer key (MWAA user guide, CMK)
    ("AWS::Lambda::Function", "kms:"): "KmsKeyArn",  # environment variables under a customer key
    ("AWS::Lambda::Function", "lambda:GetCodeSigningConfig"): "CodeSigningConfigArn",
    ("AWS::EC2::FlowLog", "s3:"): "LogDestination",  # delivery to a bucket; ours go to a log group
    ("AWS::SNS::Topic", "iam:GetRole"): "DeliveryStatusLogging",  # the logging role it checks
}
STACK_OUTPUTS = "Fn::GetStackOutput"
SSM_PARAMETER = "SSM parameter of a template"
# Calls the provider schemas do not list, by the property that makes them, with where each is documented.
DOCUMENTED_CALLS = {
    # MWAA user guide, "Using customer managed keys for encryption": the principal that creates, updates
    # or deletes an environment with a customer managed key needs these on that key (MWAA creates grants
    # for itself and revokes them on delete).
    ("AWS::MWAA::Environment", "KmsKey"): (
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ListGrants",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:RevokeGrant",
    ),
}


def environment_stacks(assembly: cx_api.CloudAssembly, project: ProjectConfig) -> list[StackContext]:
    """The stacks deployed in environment accounts, by the execution role (not the pipeline's)."""
    artifacts = [s for s in assembly.stacks_recursively if s.environment.account != project.pipeline.account]
    return stage_contexts(artifacts)


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
        # A log group's Arn attribute ends in `:*` (its streams); other ARNs with `*` are patterns inside a
        # policy document, not resources a handler acts on.
        named = [arn.removesuffix(":*") for arn in [stack.arn_of(logical_id), *stack.referenced_arns(props)] if arn]
        candidates = [arn for arn in named if "*" not in arn]
        code = props.get("Code", {})
        if resource_type == "AWS::Lambda::Function" and "S3Bucket" in code:  # the object its code is read from
            candidates.insert(0, f"arn:aws:s3:::{stack.literal(code['S3Bucket'])}/{stack.literal(code['S3Key'])}")
        candidates += [
            f"{arn}/{OBJECT_WRITTEN}" for arn in candidates if arn.startswith("arn:aws:s3:::") and "/" not in arn
        ]
        candidates += [
            arn.format(region=stack.region, account=stack.account) for arn in SERVICE_MADE.get(resource_type, ())
        ]
        context = {}
        if resource_type == "AWS::IAM::ManagedPolicy":
            candidates += [f"arn:aws:iam::{stack.account}:{principal}" for principal in ATTACHED_BY_HAND]
            context["iam:PolicyARN"] = candidates[0]
        boundary = role_boundary(stack, props, resource_type) if resource_type.startswith("AWS::IAM::") else None
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
        if resource_type in PASSED_TO:
            context["iam:PassedToService"] = PASSED_TO[resource_type]
        if resource_type in SERVICE_LINKED:
            context["iam:AWSServiceName"] = SERVICE_LINKED[resource_type]
        for (documented_type, prop), actions in DOCUMENTED_CALLS.items():
            if documented_type == resource_type and prop in props:
                for action in actions:
                    yield f"{resource_type} {prop} (documented)", request(action, stack.referenced_arns(props[prop]))
        for action in sorted(handler_permissions(resource_type, stack.region)):
            gate = next(
                (p for (t, a), p in CALLED_ONLY_WITH.items() if t == resource_type and action.startswith(a)), None
            )
            if gate is None or gate in props:
                yield resource_type, request(action, candidates, context)
    # CloudFormation resolves a parameter of an SSM type (CDK's BootstrapVersion) with the stack's role
    # (CloudFormation user guide, "Specify existing resources at runtime with CloudFormation-supplied
    # parameter types"): ssm:GetParameters on the parameter.
    for parameter in stack.template.get("Parameters", {}).values():
        if parameter["Type"].startswith("AWS::SSM::Parameter::Value<"):
            name = parameter["Default"]
            arn = f"arn:aws:ssm:{stack.region}:{stack.account}:parameter/{name.lstrip('/')}"
            yield SSM_PARAMETER, request("ssm:GetParameters", [arn])
    for output in stack_outputs_read(stack.template["Resources"]):
        producer = f"arn:aws:cloudformation:{output['Region']}:{stack.account}:stack/{output['StackName']}/0f1e2d3c"
        yield STACK_OUTPUTS, request("cloudformation:DescribeStacks", [producer])


def not_granted_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = tomllib.loads(NOT_GRANTED.read_text())["not_granted"]
    return entries


def not_granted_explained() -> dict[tuple[str, str], str]:
    return {(t, a): e["reason"] for e in not_granted_entries() for t in e["types"] for a in e["actions"]}


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
                EXECUTION_POLICY,
                account=stack.account,
                boundary_name=project.pipeline.permissions_boundary_name,
                bucket_objects=bucket_objects_of(project, stack.account),
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
        (SSM_PARAMETER, "ssm:GetParameters"),  # every template's BootstrapVersion
        *(
            ("AWS::MWAA::Environment KmsKey (documented)", a)
            for a in DOCUMENTED_CALLS[("AWS::MWAA::Environment", "KmsKey")]
        ),
    ],
)
def test_what_the_first_deploy_needs_is_allowed(
    verdicts: dict[tuple[str, str], list[str]], caller: str, action: str
) -> None:
    assert verdicts[(caller, action)] and set(verdicts[(caller, action)]) == {"Allowed"}


def test_the_evaluation_refuses_a_call_allowed_only_on_another_resource() -> None:
    """The oracle answers for the resource asked about: the web-login grant covers `<name>-web-*` policies
    only, and a call that resolves to no resource is an error, never an evaluation on `*`."""
    account = "111111111111"
    policy = document(EXECUTION_POLICY, account=account, boundary_name="mwaa-platform-boundary")

    def create_policy(*resources: str) -> Request:
        role = f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-eu-west-1"
        return Request("iam:CreatePolicy", resources, account, role, identity=("exec",))

    web, other = f"arn:aws:iam::{account}:policy/mwaa-dev-web-admin", f"arn:aws:iam::{account}:policy/other"
    answers = simulate(
        {"exec": policy}, [create_policy(web), create_policy(other), create_policy("*"), create_policy()]
    )
    assert answers[:3] == ["Allowed", "ImplicitlyDenied", "Allowed"]  # `*` answers for any resource
    assert answers[3].startswith("error: acts on policy")


def test_no_request_names_a_resource_with_a_wildcard(
    assembly: cx_api.CloudAssembly, all_options_assembly: cx_api.CloudAssembly
) -> None:
    for built, project in ((assembly, load_config()), (all_options_assembly, load_config(ALL_OPTIONS))):
        for stack in environment_stacks(built, project):
            for caller, request in calls(stack):
                assert not any("*" in arn for arn in request.resources), (caller, request.action, request.resources)


def test_each_acknowledgement_holds_for_every_synthesized_resource(
    assembly: cx_api.CloudAssembly,
    all_options_assembly: cx_api.CloudAssembly,
    cross_region_assembly: cx_api.CloudAssembly,
    verdicts: dict[tuple[str, str], list[str]],
) -> None:
    """What keeps each listed call from happening is true of the templates: a property that makes it is
    set nowhere, one whose removal makes it is set everywhere, and an API name IAM does not know is one."""
    resources: dict[str, list[dict[str, Any]]] = {}
    for built, config in ((assembly, None), (all_options_assembly, ALL_OPTIONS), (cross_region_assembly, CROSS_REGION)):
        for stack in environment_stacks(built, load_config(config)):
            for resource in stack.resources().values():
                resources.setdefault(resource["Type"], []).append(resource.get("Properties", {}))
    broken = []
    for entry in not_granted_entries():
        claimed = [*entry.get("never_set", []), *entry.get("always_set", [])]
        assert claimed or entry.get("not_an_iam_action"), entry["actions"]
        for resource_type in entry["types"]:
            declared = set(provider_schema(resource_type, "eu-west-1")["properties"])
            broken += [f"{resource_type} has no property {p}" for p in claimed if p not in declared]
            made = resources.get(resource_type, [])
            assert made, f"no {resource_type} in any template: remove its entry"
            broken += [f"{resource_type} sets {p}" for p in entry.get("never_set", []) for props in made if p in props]
            broken += [
                f"{resource_type} without {p}" for p in entry.get("always_set", []) for props in made if p not in props
            ]
            if entry.get("not_an_iam_action"):
                broken += [
                    f"{resource_type} {a} is an IAM action"
                    for a in entry["actions"]
                    if any("invalid.action" not in answer for answer in verdicts[(resource_type, a)])
                ]
    assert sorted(set(broken)) == []


@pytest.mark.parametrize(
    ("caller", "action"),
    [
        ("AWS::IAM::ManagedPolicy", "iam:DetachRolePolicy"),  # a login policy a person attached by hand
        ("AWS::IAM::ManagedPolicy", "iam:DetachUserPolicy"),
        ("AWS::IAM::ManagedPolicy", "iam:DetachGroupPolicy"),
        ("AWS::IAM::ManagedPolicy", "iam:DeletePolicy"),
        ("AWS::Logs::LogGroup", "logs:DeleteDataProtectionPolicy"),  # every log group's delete, and rollback
        ("AWS::Logs::LogGroup", "logs:DeleteLogGroup"),
        ("AWS::MWAA::Environment", "airflow:DeleteEnvironment"),
        ("AWS::MWAA::Environment KmsKey (documented)", "kms:RevokeGrant"),
        ("AWS::S3::Bucket", "s3:DeleteBucket"),
        ("AWS::KMS::Key", "kms:ScheduleKeyDeletion"),
        ("AWS::IAM::Role", "iam:DeleteRole"),
        ("AWS::Lambda::Function", "lambda:DeleteFunction"),
        ("AWS::EC2::VPC", "ec2:DeleteVpc"),
    ],
)
def test_teardown_and_the_rollback_of_a_failed_create_are_allowed(
    verdicts: dict[tuple[str, str], list[str]], caller: str, action: str
) -> None:
    """The delete handlers run on teardown, on a renamed environment (its old resources) and when a failed
    create rolls back: each of their calls must be allowed, not only the create's."""
    assert verdicts[(caller, action)] and set(verdicts[(caller, action)]) == {"Allowed"}


def test_cloudformation_may_delete_objects_only_in_the_buckets_its_storage_stacks_make() -> None:
    """The bucket create handler's s3:DeleteObject is granted on the account's buckets from config only."""
    project = load_config()
    dev = project.environment("dev")
    policy = document(
        EXECUTION_POLICY,
        account=dev.account,
        boundary_name=project.pipeline.permissions_boundary_name,
        bucket_objects=bucket_objects_of(project, dev.account),
    )
    role = f"arn:aws:iam::{dev.account}:role/cdk-hnb659fds-cfn-exec-role-{dev.account}-{dev.region}"

    def delete(key: str) -> Request:
        return Request("s3:DeleteObject", (f"arn:aws:s3:::{key}",), dev.account, role, identity=("exec",))

    keys = [f"{dev.bucket_name}/dags/a.py", "dev-storage-accesslogs8b620eca-1a2b3c/log", "someone-elses-bucket/a"]
    assert simulate({"exec": policy}, [delete(key) for key in keys]) == ["Allowed", "Allowed", "ImplicitlyDenied"]
