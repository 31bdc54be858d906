"""IAM evaluation for the tests: what CloudFormation's handlers call, and a real evaluator to judge it.

The evaluator is @cloud-copilot/iam-simulate (pinned in package.json, run by tests/iam/simulate.mjs);
docs/security.md, "Proving the account policies", says why that one. The handler permissions are read from the
resource provider schemas that the installed cfn-lint ships.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from tests.conftest import ROOT

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
# The handlers CloudFormation calls in a stack's life; `list` serves only resource import and discovery.
STACK_HANDLERS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class Request:
    """One API call: who makes it, on what, with which request context."""

    action: str
    resources: tuple[str, ...]  # candidates: the evaluator uses the first of a type the action acts on
    account: str
    principal: str
    identity: tuple[str, ...]
    boundary: tuple[str, ...] = ()
    context: dict[str, str] = field(default_factory=dict, hash=False)


@cache
def provider_schema(resource_type: str, region: str) -> dict[str, Any]:
    index = json.loads((SCHEMAS / "providers" / f"{region}.json").read_text())
    schema: dict[str, Any] = json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text())
    return schema


def handler_permissions(resource_type: str, region: str) -> set[str]:
    """Every action CloudFormation's handlers for `resource_type` call in a stack's life."""
    handlers = provider_schema(resource_type, region).get("handlers", {})
    return {action for h in STACK_HANDLERS for action in handlers.get(h, {}).get("permissions", [])}


def simulate(
    policies: dict[str, Any], requests: list[Request], resource_policies: dict[str, Any] | None = None
) -> list[str]:
    """The evaluator's answer for each request: Allowed, ImplicitlyDenied, ExplicitlyDenied or error: ...

    `resource_policies`: by resource ARN, the resource's own policy (a KMS key's key policy)."""
    payload = {
        "policies": policies,
        "resourcePolicies": resource_policies or {},
        "requests": [
            {
                **asdict(r),
                "resources": list(r.resources),
                "identity": list(r.identity),
                "boundary": list(r.boundary) or None,
            }
            for r in requests
        ],
    }
    result = subprocess.run(
        ["node", str(ROOT / "tests" / "iam" / "simulate.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    answers = json.loads(result.stdout)
    return [a["result"] if a["result"] != "error" else f"error: {a['detail']}" for a in answers]


# How each resource type's ARN is built, and which property names it (CloudFormation generates a
# name from the stack and logical ID when the property is absent).
ARN_FORMATS = {
    "AWS::CloudWatch::Alarm": ("arn:aws:cloudwatch:{region}:{account}:alarm:{name}", "AlarmName"),
    "AWS::CloudWatch::Dashboard": ("arn:aws:cloudwatch::{account}:dashboard/{name}", "DashboardName"),
    "AWS::EC2::EIP": ("arn:aws:ec2:{region}:{account}:elastic-ip/eipalloc-{id}", None),
    "AWS::EC2::FlowLog": ("arn:aws:ec2:{region}:{account}:vpc-flow-log/fl-{id}", None),
    "AWS::EC2::InternetGateway": ("arn:aws:ec2:{region}:{account}:internet-gateway/igw-{id}", None),
    "AWS::EC2::NatGateway": ("arn:aws:ec2:{region}:{account}:natgateway/nat-{id}", None),
    "AWS::EC2::RouteTable": ("arn:aws:ec2:{region}:{account}:route-table/rtb-{id}", None),
    "AWS::EC2::SecurityGroup": ("arn:aws:ec2:{region}:{account}:security-group/sg-{id}", None),
    "AWS::EC2::Subnet": ("arn:aws:ec2:{region}:{account}:subnet/subnet-{id}", None),
    "AWS::EC2::VPC": ("arn:aws:ec2:{region}:{account}:vpc/vpc-{id}", None),
    "AWS::EC2::VPCEndpoint": ("arn:aws:ec2:{region}:{account}:vpc-endpoint/vpce-{id}", None),
    "AWS::IAM::ManagedPolicy": ("arn:aws:iam::{account}:policy/{name}", "ManagedPolicyName"),
    "AWS::IAM::Role": ("arn:aws:iam::{account}:role/{name}", "RoleName"),
    "AWS::KMS::Alias": ("arn:aws:kms:{region}:{account}:{name}", "AliasName"),
    "AWS::KMS::Key": ("arn:aws:kms:{region}:{account}:key/{uuid}", None),
    "AWS::Lambda::Function": ("arn:aws:lambda:{region}:{account}:function:{name}", "FunctionName"),
    "AWS::Logs::LogGroup": ("arn:aws:logs:{region}:{account}:log-group:{name}", "LogGroupName"),
    "AWS::MWAA::Environment": ("arn:aws:airflow:{region}:{account}:environment/{name}", "Name"),
    "AWS::S3::Bucket": ("arn:aws:s3:::{name}", "BucketName"),
    "AWS::SNS::Topic": ("arn:aws:sns:{region}:{account}:{name}", "TopicName"),
}


def delegating_key_policy(account: str) -> dict[str, Any]:
    """KMS's default key policy: the account's IAM policies decide who may use the key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def key_policies(stacks: list[StackContext], requests: list[Request]) -> dict[str, Any]:
    """Every key the requests may touch, by ARN, with its key policy (KMS requires one to allow each call):
    a created key's from its template; an existing key (config's kms_key) gets KMS's default, which
    docs/configuration.md asks of it."""
    policies: dict[str, Any] = {}
    for stack in stacks:
        policies |= stack.key_policies()
    for request in requests:
        for arn in request.resources:
            if re.fullmatch(r"arn:aws:kms:[^:]+:\d{12}:key/[-0-9a-f]+", arn) and arn not in policies:
                policies[arn] = delegating_key_policy(arn.split(":")[4])
    return policies


# Resource IDs written as literals (an existing VPC's): the type each prefix names, for its ARN.
LITERAL_IDS = {"vpc": "vpc", "subnet": "subnet", "sg": "security-group", "rtb": "route-table"}
LITERAL_ID = re.compile(r"(vpc|subnet|sg|rtb)-[0-9a-f]{8,17}")


@dataclass(frozen=True)
class StackContext:
    """A synthesized stack where it is deployed: enough to resolve its references to literal ARNs.

    `peers`: the other stacks of its account and region by name, shared by all of them, so a weak
    cross-stack reference (Fn::GetStackOutput) resolves in the stack that produces it."""

    name: str
    account: str
    region: str
    template: dict[str, Any]
    peers: dict[str, StackContext] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def producer(self, reference: dict[str, str]) -> tuple[StackContext, Any]:
        """The stack a Fn::GetStackOutput reads and the output's value there; a reference that does not
        resolve fails the test, naming it, rather than being evaluated on `*`."""
        peer = self.peers.get(f"{self.account}/{reference.get('Region', self.region)}/{reference['StackName']}")
        outputs = peer.template.get("Outputs", {}) if peer else {}
        if peer is None or reference["OutputName"] not in outputs:
            raise LookupError(f"{self.name}: Fn::GetStackOutput {reference} resolves to no output of the stage")
        return peer, outputs[reference["OutputName"]]["Value"]

    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def literal(self, value: Any) -> str | None:
        """A property value as CloudFormation would resolve it, where that needs no deployed state."""
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
        }
        if isinstance(value, str):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            return None
        [(function, argument)] = value.items()
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        if function == "Fn::GetStackOutput":
            peer, output = self.producer(argument)
            return peer.literal(output)
        if function == "Fn::GetAtt" and argument[1] == "Arn":
            arn = self.arn_of(argument[0])
            # A log group's Arn attribute covers its streams: CloudFormation returns it with :* appended.
            if arn and self.resources()[argument[0]]["Type"] == "AWS::Logs::LogGroup":
                return f"{arn}:*"
            return arn
        if function == "Fn::Join":
            parts = [self.literal(part) for part in argument[1]]
            return None if None in parts else str(argument[0]).join(p for p in parts if p is not None)
        if function == "Fn::Sub" and isinstance(argument, str):
            text = argument
            for key, resolved in pseudo.items():
                text = text.replace("${" + key + "}", resolved)
            return None if "${" in text else text
        return None

    def resolved(self, value: Any) -> Any:
        """A whole property tree with every reference this stack can resolve replaced by its value."""
        if isinstance(value, list):
            return [self.resolved(item) for item in value]
        if isinstance(value, dict):
            literal = self.literal(value)
            if literal is not None:
                return literal
            return {key: self.resolved(item) for key, item in value.items()}
        return value

    def key_policies(self) -> dict[str, Any]:
        """Each key this stack creates, by ARN, with its key policy (KMS requires one to allow every call)."""
        return {
            arn: self.resolved(resource["Properties"]["KeyPolicy"])
            for logical_id, resource in self.resources().items()
            if resource["Type"] == "AWS::KMS::Key" and (arn := self.arn_of(logical_id))
        }

    def arn_of(self, logical_id: str) -> str | None:
        resource = self.resources().get(logical_id)
        if resource is None or resource["Type"] not in ARN_FORMATS:
            return None
        arn_format, name_property = ARN_FORMATS[resource["Type"]]
        name = self.literal(resource.get("Properties", {}).get(name_property)) if name_property else None
        digest = hashlib.sha256(f"{self.name}/{logical_id}".encode()).hexdigest()
        if name is None:  # CloudFormation's generated name: <stack>-<logical id>-<random>
            name = f"{self.name}-{logical_id}"[:50] + "-" + digest[:12].upper()
            if resource["Type"] == "AWS::S3::Bucket":
                name = name.lower()
        uuid = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
        return arn_format.format(account=self.account, region=self.region, name=name, id=digest[:17], uuid=uuid)

    def referenced_arns(self, value: Any) -> list[str]:
        """Every ARN a property tree names: other resources by Ref or GetAtt, and literal ARNs."""
        found: list[str] = []
        if isinstance(value, list):
            for item in value:
                found += self.referenced_arns(item)
        elif isinstance(value, dict):
            if set(value) == {"Fn::GetStackOutput"}:
                peer, output = self.producer(value["Fn::GetStackOutput"])
                return peer.referenced_arns(output)
            if set(value) == {"Ref"} or set(value) == {"Fn::GetAtt"}:
                target = value.get("Ref") or value["Fn::GetAtt"][0]
                arn = self.arn_of(target)
                return [arn, *self.network_of(target)] if arn else []
            resolved = self.literal(value)
            if resolved is not None:
                return self.referenced_arns(resolved)
            for item in value.values():
                found += self.referenced_arns(item)
        elif isinstance(value, str) and value.startswith("arn:"):
            found.append(value)
        elif isinstance(value, str) and LITERAL_ID.fullmatch(value):
            kind = LITERAL_IDS[value.split("-")[0]]
            found.append(f"arn:aws:ec2:{self.region}:{self.account}:{kind}/{value}")
        return found

    def network_of(self, logical_id: str) -> list[str]:
        """The VPC a subnet or security group belongs to: what creating an interface or group in it acts on."""
        resource = self.resources().get(logical_id, {})
        if resource.get("Type") not in ("AWS::EC2::Subnet", "AWS::EC2::SecurityGroup"):
            return []
        return self.referenced_arns(resource.get("Properties", {}).get("VpcId"))


def stage_contexts(artifacts: list[Any]) -> list[StackContext]:
    """A context for each synthesized stack (a CDK stack artifact), each able to resolve the others' outputs."""
    peers: dict[str, StackContext] = {}
    stacks = [
        StackContext(
            name=artifact.stack_name,
            account=artifact.environment.account,
            region=artifact.environment.region,
            template=artifact.template,
            peers=peers,
        )
        for artifact in artifacts
    ]
    peers.update({f"{s.account}/{s.region}/{s.name}": s for s in stacks})
    return stacks
