"""The pipeline's boto3 steps: the replacement guard on hand-written DescribeChangeSet documents,
and the wait for an AVAILABLE environment."""

from __future__ import annotations

from typing import Any

import pytest

from deploytools.environment_status import wait_until_available
from deploytools.replacement_guard import change_set_pages, evaluate


def change(resource_type: str, logical_id: str, *, action: str = "Modify", replacement: str = "False", **props: str):
    """A ResourceChange as DescribeChangeSet returns it; props maps property name -> RequiresRecreation."""
    return {
        "Type": "Resource",
        "ResourceChange": {
            "Action": action,
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            **({"Replacement": replacement} if action == "Modify" else {}),
            "Details": [
                {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation}}
                for name, recreation in props.items()
            ],
        },
    }


def page(*changes: dict[str, Any], status: str = "CREATE_COMPLETE", **extra: Any) -> dict[str, Any]:
    return {"Status": status, "Changes": list(changes), **extra}


def test_renaming_the_environment_is_refused() -> None:
    passes, message = evaluate(
        [page(change("AWS::MWAA::Environment", "Environment", replacement="True", Name="Always"))],
        allow_replacement=False,
    )
    assert not passes
    assert "AWS::MWAA::Environment Environment would be replaced (changed: Name)" in message
    assert "metadata database" in message
    assert "allow_replacement = true" in message


def test_conditional_replacement_is_refused_too() -> None:
    passes, message = evaluate(
        [page(change("AWS::EC2::Subnet", "PrivateSubnet1", replacement="Conditional", CidrBlock="Conditionally"))],
        allow_replacement=False,
    )
    assert not passes
    assert "AWS::EC2::Subnet PrivateSubnet1 may be replaced (changed: CidrBlock)" in message


def test_an_in_place_update_passes() -> None:
    passes, message = evaluate(
        [page(change("AWS::MWAA::Environment", "Environment", replacement="False", MaxWorkers="Never"))],
        allow_replacement=False,
    )
    assert passes
    assert "1 change(s), none replaces or removes" in message


def test_removing_the_bucket_is_refused() -> None:
    passes, message = evaluate(
        [page(change("AWS::S3::Bucket", "SourceBucket", action="Remove"))], allow_replacement=False
    )
    assert not passes
    assert "AWS::S3::Bucket SourceBucket would be removed" in message


def test_replacing_an_unguarded_resource_passes() -> None:
    passes, _ = evaluate(
        [page(change("AWS::IAM::Role", "ExecutionRole", replacement="True", RoleName="Always"))],
        allow_replacement=False,
    )
    assert passes


def test_allow_replacement_lets_it_through_and_says_what() -> None:
    passes, message = evaluate(
        [page(change("AWS::EC2::VPC", "Vpc", replacement="True", CidrBlock="Always"))], allow_replacement=True
    )
    assert passes
    assert message.startswith("allowed by allow_replacement = true:\n  - AWS::EC2::VPC Vpc would be replaced")


def test_no_changes_is_a_pass() -> None:
    failed = page(
        status="FAILED",
        StatusReason="The submitted information didn't contain changes. Submit different information to create "
        "a change set.",
    )
    assert evaluate([failed], allow_replacement=False) == (True, "no changes: nothing to guard")


def test_another_failure_is_a_failure() -> None:
    failed = page(status="FAILED", StatusReason="Template error: unresolved resource dependency")
    passes, message = evaluate([failed], allow_replacement=False)
    assert not passes and "Template error" in message


class PagedChangeSets:
    """Stands in for the CloudFormation API: serves DescribeChangeSet pages by NextToken."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        index = int(kwargs.get("NextToken", "0"))
        result = dict(self.pages[index])
        if index + 1 < len(self.pages):
            result["NextToken"] = str(index + 1)
        return result


def test_a_danger_on_a_later_page_is_found() -> None:
    api = PagedChangeSets(
        [
            page(change("AWS::IAM::Role", "R", replacement="False")),
            page(change("AWS::Lambda::Function", "F", replacement="True")),
            page(change("AWS::MWAA::Environment", "Environment", replacement="True", KmsKey="Always")),
        ]
    )
    passes, message = evaluate(change_set_pages(api, "prod-mwaa", "PipelineChange"), allow_replacement=False)
    assert not passes and "(changed: KmsKey)" in message
    assert [c.get("NextToken") for c in api.calls] == [None, "1", "2"]
    assert {c["StackName"] for c in api.calls} == {"prod-mwaa"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["UPDATING", "UPDATING", "AVAILABLE"], (True, "AVAILABLE")),
        (["CREATING", "CREATE_FAILED"], (False, "CREATE_FAILED: bad subnet")),
        (["UPDATING"] * 100, (False, "still UPDATING after 2 minutes")),
    ],
)
def test_waits_for_available(statuses: list[str], expected: tuple[bool, str]) -> None:
    remaining = iter(statuses)
    clock = Clock()
    result = wait_until_available(
        lambda: (next(remaining), "bad subnet"), timeout=120, interval=30, sleep=clock.sleep, clock=clock
    )
    assert result == expected


def test_the_guard_reads_a_real_change_set_through_an_assumed_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end over HTTP against moto (which models additions, not replacements)."""
    import json

    import boto3

    from deploytools.replacement_guard import main
    from tests.s3server import S3Server, client_environment

    with S3Server() as server:
        for name, value in {**client_environment(server.url), "AWS_ENDPOINT_URL": server.url}.items():
            monkeypatch.setenv(name, value)
        cloudformation = boto3.client("cloudformation")
        bucket = {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "guarded-bucket"}}}
        cloudformation.create_stack(StackName="dev-storage", TemplateBody=json.dumps({"Resources": bucket}))
        topic = {"T": {"Type": "AWS::SNS::Topic"}}
        cloudformation.create_change_set(
            StackName="dev-storage",
            ChangeSetName="PipelineChange",
            TemplateBody=json.dumps({"Resources": {**bucket, **topic}}),
        )
        code = main(
            [
                "--stack-name",
                "dev-storage",
                "--role-arn",
                "arn:aws:iam::123456789012:role/cdk-hnb659fds-deploy-role-123456789012-eu-west-1",
                "--region",
                "eu-west-1",
            ]
        )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("dev-storage: ") and out.endswith("none replaces or removes data-holding resources\n")


def version_change(before: str, after: str) -> dict[str, Any]:
    """An in-place update of AirflowVersion, described with IncludePropertyValues (as the guard asks)."""
    update = change("AWS::MWAA::Environment", "Environment", replacement="False", AirflowVersion="Never")
    target = update["ResourceChange"]["Details"][0]["Target"]
    target.update(Path="/Properties/AirflowVersion", BeforeValue=before, AfterValue=after)
    return update


@pytest.mark.parametrize(
    ("before", "after", "refusal"),
    [
        ("3.2.1", "3.3.1", None),
        ("3.0.6", "3.2.1", None),
        (
            "3.0.6",
            "3.3.1",
            "MWAA cannot upgrade Airflow 3.0.6 to 3.3.1 in one step (each upgrade goes to the next minor version "
            "MWAA offers); take the path 3.0.6 -> 3.2.1 -> 3.3.1: set airflow_version to 3.2.1, push and let it "
            "deploy, then the next",
        ),
        ("3.3.1", "3.2.1", "MWAA cannot downgrade Airflow 3.3.1 to 3.2.1 in place; keep 3.3.1, or create a new"),
        ("3.2.1", "3.0.6", "MWAA cannot downgrade Airflow 3.2.1 to 3.0.6 in place"),
    ],
)
def test_an_airflow_version_change_must_follow_mwaas_upgrade_paths(
    before: str, after: str, refusal: str | None
) -> None:
    """allow_replacement does not help: MWAA itself would refuse the update, after a long wait."""
    passes, message = evaluate([page(version_change(before, after))], allow_replacement=True)
    if refusal is None:
        assert passes, message
    else:
        assert not passes
        assert message.startswith("refusing to deploy, MWAA would refuse this Airflow version change:\n")
        assert f"  - AWS::MWAA::Environment Environment: {refusal}" in message


def test_the_guard_asks_for_property_values() -> None:
    """Before and after values of AirflowVersion exist only when DescribeChangeSet is asked for them."""
    calls: list[dict[str, Any]] = []

    class Recorder:
        def describe_change_set(self, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            return page(version_change("3.0.6", "3.3.1"))

    pages = list(change_set_pages(Recorder(), "dev-mwaa", "PipelineChange"))
    assert calls == [{"StackName": "dev-mwaa", "ChangeSetName": "PipelineChange", "IncludePropertyValues": True}]
    assert not evaluate(pages, allow_replacement=False)[0]


@pytest.mark.parametrize("action", ["Modify", "Remove"])
def test_replacing_or_removing_the_environment_key_is_refused(action: str) -> None:
    changed = {"KeySpec": "Always"} if action == "Modify" else {}
    passes, message = evaluate(
        [page(change("AWS::KMS::Key", "EncryptionKey", action=action, replacement="True", **changed))],
        allow_replacement=False,
    )
    assert not passes
    outcome = "would be replaced (changed: KeySpec)" if action == "Modify" else "would be removed"
    assert f"AWS::KMS::Key EncryptionKey {outcome}: the key that encrypts the environment's data" in message


def test_an_available_environment_is_recorded_as_deployed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over HTTP: GetEnvironment from MWAA's API (tests/mwaa_front.py), then the SSM record (moto) the DAG
    pipeline waits for, holding the commit; nothing is recorded while the environment is not available."""
    import boto3

    from deploytools.environment_status import main
    from tests.mwaa_front import FrontEnvironment, MwaaFront
    from tests.s3server import S3Server, client_environment

    arguments = ["--name", "mwaa-dev", "--region", "eu-west-1", "--timeout-minutes", "0"]
    arguments += ["--record-parameter", "/mwaa-platform/deployed/dev"]
    with S3Server() as server, MwaaFront() as mwaa:
        airflow = mwaa.add(FrontEnvironment("mwaa-dev", airflow=None, status="CREATING"))
        for name, value in {**client_environment(server.url), "AWS_ENDPOINT_URL_SSM": server.url}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_MWAA", mwaa.url)
        monkeypatch.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "0123456789abcdef0123456789abcdef01234567")
        ssm = boto3.client("ssm")
        airflow.status = "CREATE_FAILED"
        assert main(arguments) == 1
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name="/mwaa-platform/deployed/dev")
        airflow.status = "AVAILABLE"
        assert main(arguments) == 0
        recorded = ssm.get_parameter(Name="/mwaa-platform/deployed/dev")["Parameter"]["Value"]
    assert recorded == "0123456789abcdef0123456789abcdef01234567"
    assert "recorded as deployed" in capsys.readouterr().out
