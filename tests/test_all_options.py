"""config/examples/all-options.toml: every option on, still clean under cdk-nag and cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api

from tests.conftest import cfn_lint

Template = dict[str, Any]


@pytest.fixture(scope="module")
def assembly(all_options_assembly: cx_api.CloudAssembly) -> cx_api.CloudAssembly:
    return all_options_assembly


@pytest.fixture(scope="module")
def templates(all_options_templates: dict[str, Template]) -> dict[str, Template]:
    return all_options_templates


def resources(template: Template, resource_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_every_option_synthesizes_with_no_finding_and_no_lookup(assembly: cx_api.CloudAssembly) -> None:
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
    for manifest in Path(assembly.directory).rglob("manifest.json"):
        assert "missing" not in json.loads(manifest.read_text())


def test_cfn_lint_is_clean(assembly: cx_api.CloudAssembly) -> None:
    templates = sorted(str(p) for p in Path(assembly.directory).rglob("*.template.json"))
    assert cfn_lint(*templates) == (0, "", "")


def test_an_existing_vpc_is_referenced_not_created(templates: dict[str, Template]) -> None:
    network = templates["shared-network"]
    assert not resources(network, "AWS::EC2::VPC")
    assert not resources(network, "AWS::EC2::Subnet")
    assert not resources(network, "AWS::EC2::NatGateway")
    endpoints = resources(network, "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 10
    for endpoint in endpoints:
        assert endpoint["Properties"]["VpcId"] == "vpc-0a1b2c3d4e5f60718"
    [gateway] = [e for e in endpoints if e["Properties"]["VpcEndpointType"] == "Gateway"]
    assert sorted(gateway["Properties"]["RouteTableIds"]) == ["rtb-0a1b2c3d4e5f60718", "rtb-1a1b2c3d4e5f60718"]
    environment = resources(templates["shared-mwaa"], "AWS::MWAA::Environment")[0]["Properties"]
    assert environment["NetworkConfiguration"]["SubnetIds"] == ["subnet-0a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60718"]
    assert environment["EndpointManagement"] == "CUSTOMER"
    outputs = templates["shared-mwaa"]["Outputs"]
    assert {"WebserverEndpointService", "DatabaseEndpointService"} <= set(outputs)


def test_no_nat_means_isolated_subnets_and_endpoints(templates: dict[str, Template]) -> None:
    network = templates["isolated-network"]
    assert not resources(network, "AWS::EC2::NatGateway")
    assert not resources(network, "AWS::EC2::InternetGateway")
    for route in resources(network, "AWS::EC2::Route"):
        assert route["Properties"].get("DestinationCidrBlock") != "0.0.0.0/0"
    assert len(resources(network, "AWS::EC2::Subnet")) == 2
    assert len(resources(network, "AWS::EC2::VPCEndpoint")) == 10
    environment = resources(templates["isolated-mwaa"], "AWS::MWAA::Environment")[0]["Properties"]
    assert (environment["AirflowVersion"], environment["WebserverAccessMode"]) == ("3.2.1", "PUBLIC_AND_PRIVATE")


def test_an_existing_key_is_used_everywhere_and_never_created(templates: dict[str, Template]) -> None:
    key = "arn:aws:kms:eu-central-1:333333333333:key/0b5e2f1c-3a4d-4e6f-8a9b-0c1d2e3f4a5b"
    storage = templates["shared-storage"]
    assert not resources(storage, "AWS::KMS::Key")
    [bucket] = [b for b in resources(storage, "AWS::S3::Bucket") if "BucketName" in b["Properties"]]
    encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    mwaa = templates["shared-mwaa"]
    assert resources(mwaa, "AWS::MWAA::Environment")[0]["Properties"]["KmsKey"] == key
    assert key in json.dumps(resources(mwaa, "AWS::IAM::Role"))


def execution_role(template: Template, name: str) -> dict[str, Any]:
    [role] = [r["Properties"] for r in resources(template, "AWS::IAM::Role") if r["Properties"].get("RoleName") == name]
    return role


def test_the_execution_role_is_extended_from_config(templates: dict[str, Template]) -> None:
    role = execution_role(templates["shared-mwaa"], "analytics-shared-execution")
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/AmazonAthenaFullAccess"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["FromConfig0"] == {
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Effect": "Allow",
        "Resource": "arn:aws:s3:::analytics-lake/curated/*",
        "Sid": "FromConfig0",
    }
    assert statements["SecretsBackend"]["Resource"] == (
        "arn:aws:secretsmanager:eu-central-1:333333333333:secret:analytics/airflow/*"
    )
    options = resources(templates["shared-mwaa"], "AWS::MWAA::Environment")[0]["Properties"][
        "AirflowConfigurationOptions"
    ]
    assert options["secrets.backend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert json.loads(options["secrets.backend_kwargs"]) == {
        "connections_prefix": "analytics/airflow/connections",
        "variables_prefix": "analytics/airflow/variables",
    }


def test_web_login_policies_and_roles_per_airflow_role(templates: dict[str, Template]) -> None:
    mwaa = templates["shared-mwaa"]
    policies = {
        p["Properties"]["ManagedPolicyName"]: p["Properties"] for p in resources(mwaa, "AWS::IAM::ManagedPolicy")
    }
    assert set(policies) == {"analytics-shared-web-admin", "analytics-shared-web-viewer", "analytics-shared-web-op"}
    assert policies["analytics-shared-web-viewer"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "airflow:CreateWebLoginToken",
            "Effect": "Allow",
            "Resource": "arn:aws:airflow:eu-central-1:333333333333:role/analytics-shared/Viewer",
        }
    ]
    roles = {r["Properties"].get("RoleName"): r["Properties"] for r in resources(mwaa, "AWS::IAM::Role")}
    assert "analytics-shared-web-op" not in roles  # no principals listed: the policy only
    viewer = roles["analytics-shared-web-viewer"]
    assert sorted(viewer["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"]) == [
        "arn:aws:iam::333333333333:role/Analysts",
        "arn:aws:iam::333333333333:role/Auditors",
    ]


def test_files_are_uploaded_with_their_versions(templates: dict[str, Template]) -> None:
    environment = resources(templates["shared-mwaa"], "AWS::MWAA::Environment")[0]["Properties"]
    assert (environment["RequirementsS3Path"], environment["PluginsS3Path"], environment["StartupScriptS3Path"]) == (
        "requirements.txt",
        "plugins.zip",
        "startup.sh",
    )
    # The copy into a bucket encrypted with an existing key may use that key, and only it.
    assert "arn:aws:kms:eu-central-1:333333333333:key/0b5e2f1c" in json.dumps(
        resources(templates["shared-mwaa"], "AWS::IAM::Policy")
    )
