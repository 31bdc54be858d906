"""Stop a deploy whose change set would replace or remove what holds data.

Runs in the pipeline between creating and executing each stack's change set (boto3 only).
Replacing the MWAA environment (a change of Name, KmsKey, subnets or EndpointManagement) creates a
new metadata database: run history, variables and connections are gone. Replacing the bucket or
the VPC and its subnets takes the DAGs, the logs or the environment with them; replacing or removing
the environment's KMS key leaves what it encrypted unreadable. Such a change set
fails here, naming the resource and the properties, unless config sets `allow_replacement = true`
for the environment.

Usage: python -m deploytools.replacement_guard --environment dev --stack mwaa  (the rest from config)
       python -m deploytools.replacement_guard --stack-name dev-mwaa --change-set-name PipelineChange
           --role-arn arn:aws:iam::...:role/cdk-...-deploy-role-... --region eu-west-1 [--allow-replacement]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from config.rules import upgrade_path_problem

GUARDED_TYPES = {
    "AWS::MWAA::Environment": "the Airflow environment and its metadata database (run history, variables, connections)",
    "AWS::S3::Bucket": "the bucket and every object in it (DAGs, requirements, plugins, logs)",
    "AWS::EC2::VPC": "the network the environment runs in (the environment must be rebuilt)",
    "AWS::EC2::Subnet": "a subnet of the environment (changing subnets replaces the environment)",
    "AWS::KMS::Key": "the key that encrypts the environment's data: what it encrypted becomes unreadable",
}
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
MWAA_ENVIRONMENT = "AWS::MWAA::Environment"


@dataclass(frozen=True)
class Danger:
    logical_id: str
    resource_type: str
    outcome: str  # "would be replaced", "may be replaced" or "would be removed"
    properties: tuple[str, ...]

    def __str__(self) -> str:
        changed = f" (changed: {', '.join(self.properties)})" if self.properties else ""
        what = GUARDED_TYPES[self.resource_type]
        return f"{self.resource_type} {self.logical_id} {self.outcome}{changed}: {what}"


def dangers(changes: Iterable[dict[str, Any]]) -> list[Danger]:
    """Guarded resources a change set would replace (also conditionally) or remove."""
    found = []
    for change in changes:
        resource = change.get("ResourceChange", {})
        resource_type = resource.get("ResourceType", "")
        if resource_type not in GUARDED_TYPES:
            continue
        if resource.get("Action") == "Remove":
            outcome = "would be removed"
        elif resource.get("Action") == "Modify" and resource.get("Replacement") == "True":
            outcome = "would be replaced"
        elif resource.get("Action") == "Modify" and resource.get("Replacement") == "Conditional":
            outcome = "may be replaced"
        else:
            continue
        properties = sorted(
            {
                detail["Target"]["Name"]
                for detail in resource.get("Details", [])
                if detail.get("Target", {}).get("RequiresRecreation") in ("Always", "Conditionally")
                and detail["Target"].get("Name")
            }
        )
        found.append(Danger(resource.get("LogicalResourceId", "?"), resource_type, outcome, tuple(properties)))
    return found


def version_changes(changes: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(logical ID, before, after) for each MWAA environment whose AirflowVersion the change set changes.

    The values are in the change set only when it is described with IncludePropertyValues.
    """
    found = []
    for change in changes:
        resource = change.get("ResourceChange", {})
        if resource.get("ResourceType") != MWAA_ENVIRONMENT or resource.get("Action") != "Modify":
            continue
        for detail in resource.get("Details", []):
            target = detail.get("Target", {})
            if target.get("Name") == "AirflowVersion" and target.get("BeforeValue") and target.get("AfterValue"):
                found.append((resource.get("LogicalResourceId", "?"), target["BeforeValue"], target["AfterValue"]))
    return found


def change_set_pages(client: Any, stack_name: str, change_set_name: str) -> Iterator[dict[str, Any]]:
    """Every page of DescribeChangeSet, with property values (it pages with NextToken and has no paginator)."""
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "StackName": stack_name,
            "ChangeSetName": change_set_name,
            "IncludePropertyValues": True,
        }
        if token:
            kwargs["NextToken"] = token
        page: dict[str, Any] = client.describe_change_set(**kwargs)
        yield page
        token = page.get("NextToken")
        if not token:
            return


def evaluate(pages: Iterable[dict[str, Any]], *, allow_replacement: bool) -> tuple[bool, str]:
    """(passes, message) for the change set described by `pages`."""
    all_changes: list[dict[str, Any]] = []
    for page in pages:
        if page.get("Status") == "FAILED":
            reason = page.get("StatusReason", "")
            if any(marker in reason for marker in NO_CHANGES):
                return True, "no changes: nothing to guard"
            return False, f"the change set failed: {reason}"
        all_changes.extend(page.get("Changes", []))
    # MWAA refuses an upgrade path it does not support only after a long update: stop it here.
    refused = [
        f"  - {MWAA_ENVIRONMENT} {logical_id}: {problem}"
        for logical_id, before, after in version_changes(all_changes)
        if (problem := upgrade_path_problem(before, after))
    ]
    if refused:
        return False, "refusing to deploy, MWAA would refuse this Airflow version change:\n" + "\n".join(refused)
    found = dangers(all_changes)
    if not found:
        return True, f"{len(all_changes)} change(s), none replaces or removes data-holding resources"
    listing = "\n".join(f"  - {danger}" for danger in found)
    if allow_replacement:
        return True, f"allowed by allow_replacement = true:\n{listing}"
    return False, (
        f"refusing to deploy, this change set would lose data:\n{listing}\n"
        "If this is intended, set allow_replacement = true for this environment in config/environments.toml, "
        "push, and set it back afterwards."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploytools.replacement_guard", description=__doc__)
    parser.add_argument(
        "--environment",
        help="an environment key from config: the stack, role, region and "
        "allow_replacement follow from it (with --stack)",
    )
    parser.add_argument(
        "--stack", action="append", choices=("network", "storage", "mwaa"), help="which of its stacks (repeatable)"
    )
    parser.add_argument("--stack-name")
    parser.add_argument("--change-set-name", default="PipelineChange")
    parser.add_argument("--role-arn", help="role to assume in the stack's account")
    parser.add_argument("--region")
    parser.add_argument("--allow-replacement", action="store_true")
    args = parser.parse_args(argv)
    if args.environment:
        from deploytools.configured import environment

        env = environment(args.environment)
        stacks = [f"{env.stage}-{stack}" for stack in args.stack or parser.error("--stack is needed")]
        args.role_arn = args.role_arn or env.bootstrap_role_arn("deploy")
        args.region = args.region or env.region
        args.allow_replacement = args.allow_replacement or env.allow_replacement
    elif args.stack_name:
        stacks = [args.stack_name]
    else:
        parser.error("--stack-name (or --environment and --stack) is needed")

    from aws_clients import session_for

    client = session_for(role_arn=args.role_arn, region=args.region, session_name="replacement-guard").client(
        "cloudformation"
    )
    code = 0
    for stack_name in stacks:
        passes, message = evaluate(
            change_set_pages(client, stack_name, args.change_set_name), allow_replacement=args.allow_replacement
        )
        print(f"{stack_name}: {message}", file=sys.stdout if passes else sys.stderr)
        code = code or (0 if passes else 1)
    return code


if __name__ == "__main__":
    sys.exit(main())
