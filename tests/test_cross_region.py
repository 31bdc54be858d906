"""config/examples/cross-region.toml: a tools account in one region, environments in others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import cx_api

from tests.conftest import cfn_lint

Template = dict[str, Any]


def test_it_synthesizes_with_no_unacknowledged_finding_and_no_lookup(
    cross_region_assembly: cx_api.CloudAssembly,
) -> None:
    report = json.loads((Path(cross_region_assembly.directory) / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
    for manifest in Path(cross_region_assembly.directory).rglob("manifest.json"):
        assert "missing" not in json.loads(manifest.read_text())


def test_cfn_lint_is_clean(cross_region_assembly: cx_api.CloudAssembly) -> None:
    templates = sorted(str(p) for p in Path(cross_region_assembly.directory).rglob("*.template.json"))
    assert len(templates) == 12  # pipeline, two regions' support stacks, three Stages of three stacks
    assert cfn_lint(*templates) == (0, "", "")


def test_each_other_region_gets_a_replication_bucket_in_the_tools_account(
    cross_region_assembly: cx_api.CloudAssembly,
) -> None:
    support = {
        (s.environment.account, s.environment.region)
        for s in cross_region_assembly.stacks_recursively
        if s.stack_name.startswith("global-mwaa-pipeline-support-")
    }
    assert support == {("999999999999", "us-east-1"), ("999999999999", "us-west-2")}


def test_the_pipeline_role_uses_no_key_beyond_its_artifact_keys(cross_region_templates: dict[str, Template]) -> None:
    """CDK grants the other regions' replication keys on *; a deny keeps that to the artifact keys' regions."""
    pipeline = cross_region_templates["global-mwaa-pipeline"]
    statements = [
        s
        for logical_id, r in pipeline["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and logical_id.startswith("PipelineRoleDefaultPolicy")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    wildcard_key_grants = [s for s in statements if s["Effect"] == "Allow" and "*" in s["Resource"]]
    assert wildcard_key_grants and all(a.startswith("kms:") for s in wildcard_key_grants for a in s["Action"])
    [deny] = [s for s in statements if s.get("Sid") == "OnlyArtifactKeys"]
    assert deny["Effect"] == "Deny" and set(deny["Action"]) == set(wildcard_key_grants[0]["Action"])
    assert deny["NotResource"][1:] == [
        "arn:aws:kms:us-east-1:999999999999:key/*",
        "arn:aws:kms:us-west-2:999999999999:key/*",
    ]
    assert "Fn::GetAtt" in deny["NotResource"][0]  # the main artifact key


def test_each_stage_deploys_in_its_own_region(cross_region_assembly: cx_api.CloudAssembly) -> None:
    regions = {
        s.stack_name: s.environment.region
        for s in cross_region_assembly.stacks_recursively
        if not s.stack_name.startswith("global-mwaa-pipeline")
    }
    assert {name.split("-")[0]: region for name, region in regions.items()} == {
        "dev": "eu-west-1",
        "staging": "us-east-1",
        "prod": "us-west-2",
    }
