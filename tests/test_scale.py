"""Many environments in one pipeline: the pipeline stack grows by actions, not by projects and roles, and
config refuses what CodePipeline would refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api

from config import ConfigError, load_config, parse_config, rules
from tests.conftest import cfn_lint, stacks_of, synth_app
from tests.scale import many_environments, write_many_environments

PIPELINE = "mwaa-platform-pipeline"
pytestmark = pytest.mark.xdist_group("scale")  # the module's apps are synthesized once, on one worker


@pytest.fixture(scope="module")
def ten(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, cx_api.CloudFormationStackArtifact]]:
    """A config of ten environments (the first alone, the rest in waves of five) synthesized with cdk-nag on."""
    folder = tmp_path_factory.mktemp("ten")
    yield stacks_of(synth_app(load_config(write_many_environments(10, folder, per_wave=5)), folder / "cdk.out"))


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("two")
    assembly = synth_app(load_config(write_many_environments(2, folder)), folder / "cdk.out")
    yield stacks_of(assembly)[PIPELINE].template


def counts(template: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for resource in template["Resources"].values():
        found[resource["Type"]] = found.get(resource["Type"], 0) + 1
    return found


def test_ten_environments_add_no_resource_to_the_pipeline_stack(
    ten: dict[str, cx_api.CloudFormationStackArtifact], two: dict[str, Any]
) -> None:
    """Synthesized with cdk-nag on (a finding would fail synth): the pipeline stack of ten environments holds the
    same resources as that of two; it grows by actions and by the environments' roles in its policies."""
    pipeline = ten[PIPELINE].template
    assert counts(pipeline) == counts(two)
    assert counts(pipeline)["AWS::CodeBuild::Project"] <= 12 and counts(pipeline)["AWS::IAM::Role"] <= 12
    size, smaller = len(json.dumps(pipeline, indent=1)), len(json.dumps(two, indent=1))
    assert (size - smaller) / 8 < 10_000  # bytes of template per environment added


# What holds data, or a name the environments trust, in the pipeline stack: renaming one's logical ID would
# replace it (a bucket or key with what it holds), or fail the update (a fixed role name cannot exist twice).
KEPT = {
    "BuildLogs3759266E": "AWS::Logs::LogGroup",
    "BuildLogsKeyCBE14258": "AWS::KMS::Key",
    "DagPipeline35365156": "AWS::CodePipeline::Pipeline",
    "DagPipelineArtifactKey18900228": "AWS::KMS::Key",
    "DagPipelineArtifacts9FFBBAF5": "AWS::S3::Bucket",
    "NotificationKey6F64DE1A": "AWS::KMS::Key",
    "Notifications87298708": "AWS::SNS::Topic",
    "Pipeline9850B417": "AWS::CodePipeline::Pipeline",
    "PipelineArtifactsBucketAEA9A052": "AWS::S3::Bucket",
    "PipelineArtifactsBucketEncryptionKeyF5BF0670": "AWS::KMS::Key",
    "DagPipelineSyncRoleAC90B21E": "mwaa-platform-dag-sync",
    "SeedRole5DAA6E70": "mwaa-platform-dag-seed",
    "StatusRoleD1C01816": "mwaa-platform-env-status",
}


def test_reshaping_the_pipeline_keeps_what_holds_data_and_the_trusted_names(templates: dict[str, Any]) -> None:
    """The pipeline stack's own update (self-mutation) replaces nothing that holds data and renames no role the
    environments trust, whatever the number of environments; the guard's rules for buckets and keys, applied to
    the pipeline stack."""
    resources = templates[PIPELINE]["Resources"]
    for logical_id, kind in KEPT.items():
        resource = resources[logical_id]
        assert kind in (resource["Type"], resource["Properties"].get("RoleName")), logical_id
    guarded = {"AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::SNS::Topic"}
    assert {k for k, r in resources.items() if r["Type"] in guarded} <= set(KEPT)


def test_each_wave_needs_the_actions_config_counts(ten: dict[str, cx_api.CloudFormationStackArtifact]) -> None:
    """config/rules.py refuses a wave of more actions than a CodePipeline stage holds, and more waves than a
    pipeline holds stages: its counts are the synthesized pipeline's."""
    project = parse_config(_toml(many_environments(10, per_wave=5)))
    main = _pipeline(ten[PIPELINE].template, "mwaa-platform")
    stages = main["Stages"][rules.MAIN_PIPELINE_FIXED_STAGES :]
    assert len(stages) == len(project.waves)
    for index, ((_, envs), stage) in enumerate(zip(project.waves, stages, strict=True)):
        expected = len(envs) * rules.ACTIONS_PER_ENVIRONMENT + rules.ACTIONS_PER_WAVE
        expected += sum(env.network_waits_for_storage for env in envs) + envs[0].approval + (index == 0)
        assert len(stage["Actions"]) == expected, stage["Name"]
    assert max(len(stage["Actions"]) for stage in stages) <= rules.CODEPIPELINE_MAX_ACTIONS_PER_STAGE
    dags = _pipeline(ten[PIPELINE].template, "mwaa-platform-dags")
    assert [s["Name"] for s in dags["Stages"]] == ["Source", *(f"Dags-{wave}" for wave, _ in project.waves)]


def test_configs_template_estimate_never_falls_short(
    ten: dict[str, cx_api.CloudFormationStackArtifact], two: dict[str, Any]
) -> None:
    """Config refuses environments whose pipeline template would pass CloudFormation's 1 MB by its estimate:
    the estimate is above what synth makes (`make bench` shows it beside 10, 25 and 50 environments)."""
    for template, environments, waves in ((ten[PIPELINE].template, 10, 3), (two, 2, 2)):
        actual = len(json.dumps(template, indent=1))
        estimate = rules.pipeline_template_bytes(environments, waves)
        assert actual < estimate < actual * 1.3


def test_more_environments_than_one_template_holds_are_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(_toml(many_environments(110, per_wave=5)))
    message = str(refused.value)
    assert "110 environments in 23 waves make the pipeline stack's template about 1,094 KB" in message
    assert "CloudFormation takes a template of at most 1,000 KB" in message


def test_cfn_lint_is_clean_on_the_pipeline_of_ten(
    ten: dict[str, cx_api.CloudFormationStackArtifact], tmp_path: Path
) -> None:
    assert cfn_lint(ten[PIPELINE].template_full_path) == (0, "", "")


def test_more_waves_than_a_pipeline_holds_stages_are_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(_toml(many_environments(rules.MAX_WAVES + 1)))
    message = str(refused.value)
    assert f"{rules.MAX_WAVES + 1} waves" in message and "CodePipeline allows 50 stages in a pipeline" in message
    assert f"at most {rules.MAX_WAVES} waves" in message
    parse_config(_toml(many_environments(rules.MAX_WAVES)))  # one fewer fits


def test_a_wave_of_more_actions_than_a_stage_holds_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(_toml(many_environments(7, per_wave=6)))
    message = str(refused.value)
    assert "wave 'w02': its 6 environments (e02, e03, e04, e05, e06, e07) need 52 actions" in message
    assert "CodePipeline allows 50 actions in a stage, so a wave holds at most 5 environments: split it" in message
    parse_config(_toml(many_environments(6, per_wave=5)))


def test_a_wave_promotes_its_environments_together() -> None:
    text = many_environments(3, per_wave=2).replace("approval = true", "approval = false", 1)
    with pytest.raises(ConfigError) as refused:
        parse_config(_toml(text))
    assert "wave 'w02': its environments e02, e03 differ in `approval`" in str(refused.value)


def _toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


def _pipeline(template: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodePipeline::Pipeline" and r["Properties"]["Name"] == name
    ]
    return found
