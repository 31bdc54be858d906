"""Acknowledge the wildcard grants CDK Pipelines and CodeBuild generate, statement by statement.

Each IAM statement in the pipeline stack is matched against the shapes CDK generates (artifact
bucket read/write, artifact key use, a CodeBuild project's own logs and reports, self-mutation).
A match acknowledges exactly that statement's cdk-nag findings, with the reason for that shape.
A wildcard statement matching no shape stays unacknowledged and fails synth, so a grant we did
not expect always gets a human look.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from aws_cdk import Stack, aws_iam as iam
from constructs import IConstruct

from stages.nag import acknowledge

Statement = dict[str, Any]
LOGS_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
REPORT_ACTIONS = {
    "codebuild:BatchPutCodeCoverages",
    "codebuild:BatchPutTestCases",
    "codebuild:CreateReport",
    "codebuild:CreateReportGroup",
    "codebuild:UpdateReport",
}
BOOTSTRAP_ROLE_TAG = "iam:ResourceTag/aws-cdk:bootstrap-role"
# What CDK grants on an artifact key (KMS encrypt and decrypt for S3's server-side encryption).
ARTIFACT_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")


def render(value: Any) -> str:
    """A resource as cdk-nag names it in finding IDs (`<Logical.Arn>`, `<Ref>`)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}.{value['Fn::GetAtt'][1]}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part) for part in parts)
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", value["Fn::Sub"])
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def findings(statement: Statement) -> list[str]:
    actions = [f"Action::{a}" for a in as_list(statement.get("Action", [])) if "*" in a]
    resources = [f"Resource::{render(r)}" for r in as_list(statement.get("Resource", [])) if "*" in render(r)]
    return actions + resources


def grant_reason(statement: Statement, *, buckets: set[str], keys: set[str], cross_region: bool) -> str | None:
    """Why a generated statement is as narrow as it can be, or None when it is not a known shape."""
    actions = set(as_list(statement.get("Action", [])))
    resources = {render(r) for r in as_list(statement.get("Resource", []))}
    if resources and resources <= buckets | {f"{b}/*" for b in buckets} and all(a.startswith("s3:") for a in actions):
        return (
            "CDK-generated grant to read and write build artifacts in this pipeline's own artifact buckets only "
            "(and their copies in the other regions it deploys to)."
        )
    if resources and resources <= keys and all(a.startswith("kms:") for a in actions):
        return "CDK-generated grant to use this pipeline's own artifact key only (to read and write artifacts)."
    if cross_region and "*" in resources and resources <= keys | {"*"} and actions <= set(ARTIFACT_KEY_ACTIONS):
        return (
            "CDK grants the replication keys of other regions on * because a key ARN cannot cross regions; the "
            "role's OnlyArtifactKeys deny confines it to the artifact key and this account's keys in those regions."
        )
    codebuild_logs = re.compile(r"arn:[^:]+:logs:[^:]+:\d{12}:log-group:/aws/codebuild/(<[^>]+>:?)?\*")
    if actions <= LOGS_ACTIONS and all(codebuild_logs.fullmatch(r) or "*" not in r for r in resources):
        return "CodeBuild writes its build logs to log groups named after its own project; CDK scopes them so."
    report_groups = re.compile(r"arn:[^:]+:codebuild:[^:]+:\d{12}:report-group/(<[^>]+>-)?\*")
    if actions <= REPORT_ACTIONS and all(report_groups.fullmatch(r) for r in resources):
        return "CodeBuild test reports go to report groups named after its own project; CDK scopes them so."
    if actions == {"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"}:
        return "CDK's asset-publishing role starts and watches its own CodeBuild builds (CDK-generated)."
    if actions == {"cloudformation:DescribeStacks", "s3:ListBucket"} and resources == {"*"}:
        return "Self-mutation reads the pipeline stack and lists the bootstrap bucket; these calls are read-only."
    conditions = statement.get("Condition", {}).get("ForAnyValue:StringEquals", {})
    if actions == {"sts:AssumeRole"} and BOOTSTRAP_ROLE_TAG in conditions:
        return "Self-mutation assumes only the CDK bootstrap roles, selected by their aws-cdk:bootstrap-role tag."
    return None


def acknowledge_generated_grants(
    stack: Stack,
    *,
    artifact_buckets: Iterable[IConstruct],
    artifact_keys: Iterable[IConstruct],
    replication_bucket_arns: Iterable[str] = (),
    resolve: Callable[[Any], Any] | None = None,
) -> None:
    """`replication_bucket_arns`: the artifact buckets CDK creates in other regions, as literal ARNs."""
    resolve = resolve or stack.resolve
    replication = set(replication_bucket_arns)
    buckets = {f"<{stack.get_logical_id(b.node.default_child)}.Arn>" for b in artifact_buckets}  # type: ignore[arg-type]
    buckets |= replication
    keys = {f"<{stack.get_logical_id(k.node.default_child)}.Arn>" for k in artifact_keys}  # type: ignore[arg-type]
    for construct in stack.node.find_all():
        if not isinstance(construct, iam.CfnPolicy):
            continue
        document = resolve(construct.policy_document)
        for statement in document.get("Statement", []):
            reason = grant_reason(statement, buckets=buckets, keys=keys, cross_region=bool(replication))
            if reason:
                for finding in findings(statement):
                    acknowledge(construct, f"IAM5[{finding}]", reason)
