"""Create or update the two IAM policies an environment account is bootstrapped with (bootstrap/).

`scripts/bootstrap.sh environment KEY` runs this with the account's credentials. An existing policy
whose document differs from the one in git gets a new default version, so an edit in git reaches the
account on the next run; at IAM's limit of five versions the oldest non-default one is deleted first.
Usage: python -m deploytools.bootstrap_policies --account 111111111111 --boundary-name NAME --execution-name NAME
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config import ProjectConfig

BOOTSTRAP = Path(__file__).resolve().parents[1] / "bootstrap"
MAX_VERSIONS = 5  # IAM keeps at most five versions of a managed policy


OUR_BUCKET_OBJECTS = "OUR_BUCKET_OBJECTS"


def document(
    template: Path, *, account: str, boundary_name: str, bucket_objects: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A policy document from bootstrap/, with the account, the boundary's name and the objects of the
    account's buckets (`bucket_objects_of`) filled in; a statement on those objects goes when there are none."""
    text = template.read_text().replace("ACCOUNT", account).replace("BOUNDARY_NAME", boundary_name)
    parsed: dict[str, Any] = json.loads(text)
    statements = []
    for statement in parsed["Statement"]:
        if statement["Resource"] == OUR_BUCKET_OBJECTS:
            if not bucket_objects:
                continue
            statement = {**statement, "Resource": list(bucket_objects)}
        statements.append(statement)
    return {**parsed, "Statement": statements}


def bucket_objects_of(project: ProjectConfig, account: str) -> tuple[str, ...]:
    """The objects of the buckets the account's storage stacks create: each source bucket (its name is in
    config) and each access-log bucket (named by CloudFormation after its stack, `<key>-storage-...`). The
    S3 bucket's create handler lists s3:DeleteObject, so it may delete there and nowhere else."""
    arns: list[str] = []
    for env in project.environments:
        if env.account == account:
            arns += [
                f"arn:{env.partition}:s3:::{env.bucket_name}/*",
                f"arn:{env.partition}:s3:::{env.stage}-storage-accesslogs*/*",
            ]
    return tuple(arns)


def _current(iam: Any, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(the default version's document, every version), or None when the policy does not exist."""
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except iam.exceptions.NoSuchEntityException:
        return None
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    body = version["Document"]
    current = json.loads(urllib.parse.unquote(body)) if isinstance(body, str) else body
    return current, iam.list_policy_versions(PolicyArn=arn)["Versions"]


def ensure_policy(iam: Any, *, account: str, name: str, wanted: dict[str, Any], partition: str = "aws") -> str:
    """Create the policy, or make `wanted` its default version; say which."""
    arn = f"arn:{partition}:iam::{account}:policy/{name}"
    found = _current(iam, arn)
    if found is None:
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(wanted))
        return f"created policy {name}"
    current, versions = found
    if current == wanted:
        return f"policy {name} is up to date"
    if len(versions) >= MAX_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    created = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(wanted), SetAsDefault=True)
    return f"updated policy {name}: version {created['PolicyVersion']['VersionId']} is now the default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploytools.bootstrap_policies", description=__doc__)
    parser.add_argument("--account", required=True)
    parser.add_argument("--boundary-name", required=True)
    parser.add_argument("--execution-name", required=True)
    args = parser.parse_args(argv)

    from aws_clients import session_for
    from config import read_config

    bucket_objects = bucket_objects_of(read_config(os.environ.get("MWAA_CONFIG")), args.account)
    iam = session_for(role_arn=None, region=None, session_name="bootstrap").client("iam")
    for name, template in (
        (args.boundary_name, BOOTSTRAP / "permissions-boundary.json"),
        (args.execution_name, BOOTSTRAP / "cfn-execution-policy.json"),
    ):
        wanted = document(
            template, account=args.account, boundary_name=args.boundary_name, bucket_objects=bucket_objects
        )
        print(ensure_policy(iam, account=args.account, name=name, wanted=wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
