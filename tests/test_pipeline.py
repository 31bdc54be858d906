"""The delivery pipelines as synthesized: stages, order, triggers, keys, cross-account roles, guards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from config import ProjectConfig
from tests.conftest import ROOT

PIPELINE_STACK = "mwaa-platform-pipeline"
Template = dict[str, Any]


@pytest.fixture(scope="module")
def pipeline_template(templates: dict[str, Template]) -> Template:
    return templates[PIPELINE_STACK]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def pipeline_named(template: Template, name: str) -> dict[str, Any]:
    [pipeline] = [
        p["Properties"]
        for p in resources(template, "AWS::CodePipeline::Pipeline").values()
        if p["Properties"]["Name"] == name
    ]
    return pipeline


def actions_in_order(pipeline: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(stage, action, provider, run order) for every action, in execution order."""
    return [
        (stage["Name"], action["Name"], action["ActionTypeId"]["Provider"], action.get("RunOrder", 1))
        for stage in pipeline["Stages"]
        for action in sorted(stage["Actions"], key=lambda a: a.get("RunOrder", 1))
    ]


def test_main_pipeline_is_v2_and_self_mutating(pipeline_template: Template) -> None:
    main = pipeline_named(pipeline_template, "mwaa-platform")
    assert main["PipelineType"] == "V2"
    assert [s["Name"] for s in main["Stages"]] == ["Source", "Build", "UpdatePipeline", "Assets", "dev", "prod"]
    [source] = main["Stages"][0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == "example-org/mwaa-platform"
    assert source["Configuration"]["BranchName"] == "main"
    [mutate] = main["Stages"][2]["Actions"]
    assert mutate["Name"] == "SelfMutate"


def test_dag_only_commits_do_not_start_the_main_pipeline(pipeline_template: Template) -> None:
    main = pipeline_named(pipeline_template, "mwaa-platform")
    assert main["Triggers"] == [
        {
            "GitConfiguration": {
                "Push": [{"Branches": {"Includes": ["main"]}, "FilePaths": {"Excludes": ["dags/**"]}}],
                "SourceActionName": "Source",
            },
            "ProviderType": "CodeStarSourceConnection",
        }
    ]


def test_each_environment_deploys_after_the_one_before(pipeline_template: Template) -> None:
    order = [stage for stage, *_ in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform"))]
    assert order.index("prod") > max(i for i, s in enumerate(order) if s == "dev")


def test_prod_waits_for_approval_before_any_deploy(pipeline_template: Template) -> None:
    prod = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == "prod"]
    approval_order = next(order for _, name, _, order in prod if name == "Promote-prod")
    assert approval_order > next(order for _, name, _, order in prod if name == "ConfirmSecurityChanges-prod")
    deploy_orders = [order for _, _, provider, order in prod if provider == "CloudFormation"]
    assert deploy_orders and approval_order < min(deploy_orders)
    dev = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == "dev"]
    assert not [name for _, name, _, _ in dev if name.startswith("Promote")]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_widened_permissions_need_their_own_approval(pipeline_template: Template, stage: str) -> None:
    actions = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == stage]
    names = [name for _, name, _, _ in actions if name != "CheckDags"]  # dev also checks the DAGs first
    assert set(names[:2]) == {f"SecurityDiff-{stage}", f"ConfirmSecurityChanges-{stage}"}
    orders = {name: order for _, name, _, order in actions}
    # Side by side: the diff approves the waiting approval through its token when nothing widened.
    assert orders[f"SecurityDiff-{stage}"] == orders[f"ConfirmSecurityChanges-{stage}"] < orders["network.Prepare"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_stack_has_a_replacement_guard_between_prepare_and_deploy(
    pipeline_template: Template, stage: str, example_config: ProjectConfig
) -> None:
    """dev's network and storage make their change sets side by side, and one guard checks both; prod's network
    waits for storage (its key encrypts the flow logs), so each has its own. The MWAA stack's guard runs with the
    DAG seed."""
    actions = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == stage]
    orders = {name: order for _, name, _, order in actions}
    if example_config.environment(stage).network_waits_for_storage:
        guards = {stack: f"{stack}.ReplacementGuard-{stage}-{stack}" for stack in ("network", "storage")}
    else:
        guards = dict.fromkeys(("network", "storage"), f"network.ReplacementGuard-{stage}")
    guards["mwaa"] = f"mwaa.SeedDagsAndGuard-{stage}"
    for stack, guard in guards.items():
        assert orders[f"{stack}.Prepare"] < orders[guard] < orders[f"{stack}.Deploy"]
    assert len([name for name in orders if "Guard" in name]) == len(set(guards.values()))


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_dags_are_seeded_before_the_environment_and_its_state_checked_after(
    pipeline_template: Template, stage: str
) -> None:
    actions = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == stage]
    orders = {name: order for _, name, _, order in actions}
    assert orders["storage.Deploy"] < orders[f"mwaa.SeedDagsAndGuard-{stage}"] < orders["mwaa.Deploy"]
    assert orders[f"CheckAvailable-{stage}"] > orders["mwaa.Deploy"]  # after the wave


def test_each_kind_of_step_is_one_project_whatever_the_environments(pipeline_template: Template) -> None:
    """An environment adds actions, not projects or roles: its actions pass only its key."""
    main = pipeline_named(pipeline_template, "mwaa-platform")
    projects = resources(pipeline_template, "AWS::CodeBuild::Project")
    used: dict[str, set[str]] = {}
    for stage in main["Stages"][4:]:
        for action in stage["Actions"]:
            if action["ActionTypeId"]["Provider"] == "CodeBuild" and action["Name"] != "CheckDags":
                kind = action["Name"].split(".")[-1].split("-")[0]
                used.setdefault(kind, set()).add(action["Configuration"]["ProjectName"]["Ref"])
                variables = json.loads(action["Configuration"]["EnvironmentVariables"])
                assert {v["name"] for v in variables} <= {
                    "ENVIRONMENT",
                    "ENVIRONMENTS",
                    "STACKS",
                    "CDK_STAGES",
                    "PIPELINE_STAGE",
                    "APPROVAL",
                }
                assert "RoleArn" not in action  # the pipeline's role starts it
    assert sorted(used) == ["CheckAvailable", "ReplacementGuard", "SecurityDiff", "SeedDagsAndGuard"]
    assert all(len(refs) == 1 for refs in used.values()) and all(r in projects for refs in used.values() for r in refs)
    for stage in main["Stages"]:
        for action in stage["Actions"]:
            if action["ActionTypeId"]["Category"] == "Approval":
                assert "RoleArn" not in action


def test_cross_account_deploys_use_the_configured_accounts(
    pipeline_template: Template, example_config: ProjectConfig
) -> None:
    main = pipeline_named(pipeline_template, "mwaa-platform")
    for env in example_config.environments:
        [stage] = [s for s in main["Stages"] if s["Name"] == env.stage]
        deploys = [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
        assert len(deploys) == 6
        for action in deploys:
            assert (
                action["RoleArn"]
                == f"arn:aws:iam::{env.account}:role/cdk-hnb659fds-deploy-role-{env.account}-eu-west-1"
            )
            assert action["Configuration"]["StackName"].startswith(f"{env.stage}-")
            if action["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE":
                assert action["Configuration"]["RoleArn"] == (
                    f"arn:aws:iam::{env.account}:role/cdk-hnb659fds-cfn-exec-role-{env.account}-eu-west-1"
                )


def test_artifact_and_notification_keys_rotate(pipeline_template: Template) -> None:
    keys = resources(pipeline_template, "AWS::KMS::Key")
    assert len(keys) == 4  # main pipeline artifacts, DAG pipeline artifacts, build logs, notifications
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_every_build_logs_to_one_encrypted_log_group(pipeline_template: Template) -> None:
    [(group_id, group)] = resources(pipeline_template, "AWS::Logs::LogGroup").items()
    assert group["Properties"]["LogGroupName"] == "/mwaa-platform/builds"
    key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    [statement] = [
        s
        for s in pipeline_template["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchLogsForBuildLogs"
    ]
    assert statement["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:999999999999:log-group:/mwaa-platform/builds"
        }
    }
    projects = resources(pipeline_template, "AWS::CodeBuild::Project")
    assert len(projects) > 10
    for project in projects.values():
        cloudwatch = project["Properties"]["LogsConfig"]["CloudWatchLogs"]
        assert (cloudwatch["Status"], cloudwatch["GroupName"]) == ("ENABLED", {"Ref": group_id})
        assert "EncryptionKey" in project["Properties"]  # artifacts encrypted with a pipeline key


def test_failures_and_approvals_are_notified_to_the_configured_topic(pipeline_template: Template) -> None:
    [topic_id] = resources(pipeline_template, "AWS::SNS::Topic")
    assert pipeline_template["Resources"][topic_id]["Properties"]["TopicName"] == "mwaa-delivery"
    rules = resources(pipeline_template, "AWS::CodeStarNotifications::NotificationRule").values()
    assert len(rules) == 2
    for rule in rules:
        assert set(rule["Properties"]["EventTypeIds"]) == {
            "codepipeline-pipeline-pipeline-execution-failed",
            "codepipeline-pipeline-action-execution-failed",
            "codepipeline-pipeline-manual-approval-needed",
        }
        assert rule["Properties"]["Targets"] == [{"TargetAddress": {"Ref": topic_id}, "TargetType": "SNS"}]


def test_pipeline_installs_only_pinned_tools(pipeline_template: Template) -> None:
    package = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    projects = resources(pipeline_template, "AWS::CodeBuild::Project").values()
    specs = [p["Properties"]["Source"].get("BuildSpec", "") for p in projects]
    text = "\n".join(json.dumps(s) for s in specs)
    assert f"npm install -g aws-cdk@{package['aws-cdk']}" in text  # self-mutation
    assert f"npm install -g cdk-assets@{package['cdk-assets']}" in text  # asset publishing
    assert "npm install -g aws-cdk\\n" not in text and 'npm install -g aws-cdk"' not in text
    for line in text.replace("\\n", "\n").split('"'):
        if "npm install" in line:
            assert "@" in line.split("install", 1)[1], line
        if "pip install" in line:
            assert " -r " in line, line


def test_no_role_we_wrote_has_a_star_action(templates: dict[str, Template]) -> None:
    for name, template in templates.items():
        for policy in resources(template, "AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    assert action != "*" and not action.endswith(":*"), (name, statement)


def step_policy(template: Template, role_name: str) -> list[dict[str, Any]]:
    roles = {
        k for k, v in resources(template, "AWS::IAM::Role").items() if v["Properties"].get("RoleName") == role_name
    }
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template, "AWS::IAM::Policy").values()
        if {r["Ref"] for r in p["Properties"]["Roles"]} <= roles
    ]
    return policy


def test_step_roles_reach_only_their_targets(pipeline_template: Template) -> None:
    """Each shared role may assume exactly the environment roles its step uses, in every environment."""
    seed = step_policy(pipeline_template, "mwaa-platform-dag-seed")
    assumes = [s for s in seed if s["Action"] == "sts:AssumeRole"]
    assert assumes == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Resource": [
                "arn:aws:iam::111111111111:role/cdk-hnb659fds-deploy-role-111111111111-eu-west-1",
                "arn:aws:iam::111111111111:role/mwaa-dev-dag-sync",
                "arn:aws:iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-eu-west-1",
                "arn:aws:iam::222222222222:role/mwaa-prod-dag-sync",
            ],
        }
    ]
    status = step_policy(pipeline_template, "mwaa-platform-env-status")
    assert [s["Resource"] for s in status if s["Action"] == "sts:AssumeRole"] == [
        [
            "arn:aws:iam::111111111111:role/mwaa-dev-status-reader",
            "arn:aws:iam::222222222222:role/mwaa-prod-status-reader",
        ]
    ]
    # It records each environment as deployed, and the DAG sync reads only that (nothing else in SSM).
    parameters = [
        "arn:aws:ssm:eu-west-1:999999999999:parameter/mwaa-platform/deployed/dev",
        "arn:aws:ssm:eu-west-1:999999999999:parameter/mwaa-platform/deployed/prod",
    ]
    assert [s for s in status if s.get("Sid") == "RecordDeployed"] == [
        {"Action": "ssm:PutParameter", "Effect": "Allow", "Resource": parameters, "Sid": "RecordDeployed"}
    ]
    # The first record of an environment starts the DAG pipeline, and that is all it may start.
    assert [s for s in status if s.get("Sid") == "StartDagPipelineOnFirstDeploy"] == [
        {
            "Action": "codepipeline:StartPipelineExecution",
            "Effect": "Allow",
            "Resource": "arn:aws:codepipeline:eu-west-1:999999999999:mwaa-platform-dags",
            "Sid": "StartDagPipelineOnFirstDeploy",
        }
    ]
    sync = step_policy(pipeline_template, "mwaa-platform-dag-sync")
    assert [s for s in sync if s.get("Sid") == "ReadDeployed"] == [
        {"Action": "ssm:GetParameter", "Effect": "Allow", "Resource": parameters, "Sid": "ReadDeployed"}
    ]


def test_status_reader_may_only_get_its_environment(templates: dict[str, Template]) -> None:
    roles = resources(templates["dev-mwaa"], "AWS::IAM::Role").values()
    [reader] = [r["Properties"] for r in roles if r["Properties"].get("RoleName") == "mwaa-dev-status-reader"]
    assert reader["Policies"][0]["PolicyDocument"]["Statement"] == [
        {
            "Action": "airflow:GetEnvironment",
            "Effect": "Allow",
            "Resource": "arn:aws:airflow:eu-west-1:111111111111:environment/mwaa-dev",
            "Sid": "GetEnvironment",
        }
    ]
    assert reader["AssumeRolePolicyDocument"]["Statement"] == [
        tools_trust("arn:aws:iam::999999999999:role/mwaa-platform-env-status")
    ]


def tools_trust(*role_arns: str) -> dict[str, Any]:
    """Trust in the tools account, limited to these roles by ARN (which survives their re-creation)."""
    return {
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": list(role_arns)}},
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
    }


# The DAG pipeline


def test_dag_pipeline_has_no_cloudformation_and_no_self_mutation(pipeline_template: Template) -> None:
    dags = pipeline_named(pipeline_template, "mwaa-platform-dags")
    assert dags["PipelineType"] == "V2"
    assert dags["ExecutionMode"] == "SUPERSEDED"
    # One build before the first environment (check, then sync); later ones sync after their approval.
    assert [(s, a, p) for s, a, p, _ in actions_in_order(dags)] == [
        ("Source", "Source", "CodeStarSourceConnection"),
        ("Dags-dev", "CheckAndSyncDags", "CodeBuild"),
        ("Dags-prod", "Approve", "Manual"),
        ("Dags-prod", "SyncDags-prod", "CodeBuild"),
    ]
    for stage in dags["Stages"][1:]:
        for action in stage["Actions"]:
            assert "RoleArn" not in action  # the pipeline's own role, not one per action


def test_later_syncs_run_on_lambda_compute_and_the_first_on_the_standard_image(pipeline_template: Template) -> None:
    """The check installs Airflow and needs the standard image; a boto3-only sync starts in seconds on Lambda."""
    dags = pipeline_named(pipeline_template, "mwaa-platform-dags")
    projects = resources(pipeline_template, "AWS::CodeBuild::Project")
    by_action = {
        a["Name"]: projects[a["Configuration"]["ProjectName"]["Ref"]]["Properties"]
        for s in dags["Stages"]
        for a in s["Actions"]
        if "ProjectName" in a.get("Configuration", {})
    }
    first, later = by_action["CheckAndSyncDags"], by_action["SyncDags-prod"]
    assert first["Environment"]["Image"] == "aws/codebuild/standard:7.0"
    assert "EnvironmentVariables" not in first["Environment"]  # DAG_STEP unset: check, then sync
    assert later["Environment"]["Type"] == "LINUX_LAMBDA_CONTAINER"
    assert later["Environment"]["Image"] == "aws/codebuild/amazonlinux-x86_64-lambda-standard:python3.12"
    assert later["Environment"]["EnvironmentVariables"] == [{"Name": "DAG_STEP", "Type": "PLAINTEXT", "Value": "sync"}]


def test_later_syncs_take_the_checked_source_and_its_dag_index(pipeline_template: Template) -> None:
    """The first build's output (the source and the check's index) is the later environments' input; the
    buildspec passes the index on and waits with it."""
    import yaml  # type: ignore[import-untyped]

    dags = pipeline_named(pipeline_template, "mwaa-platform-dags")
    builds = {a["Name"]: a for s in dags["Stages"] for a in s["Actions"] if "ProjectName" in a.get("Configuration", {})}
    assert builds["CheckAndSyncDags"]["InputArtifacts"] == [{"Name": "Source"}]
    assert builds["CheckAndSyncDags"]["OutputArtifacts"] == [{"Name": "Checked"}]
    assert builds["SyncDags-prod"]["InputArtifacts"] == [{"Name": "Checked"}]
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    index = buildspec["env"]["variables"]["DAG_INDEX"]
    commands = "\n".join(buildspec["phases"]["build"]["commands"])
    assert 'scripts/dags-check.sh --index "$DAG_INDEX"' in commands and '--dag-index "$DAG_INDEX"' in commands
    assert index.split("/")[0] + "/**/*" in buildspec["artifacts"]["files"]
    assert not any(".venv" in pattern for pattern in buildspec["artifacts"]["files"])  # no Airflow venv passed on


def test_an_environment_deployed_for_the_first_time_starts_the_dag_pipeline(pipeline_template: Template) -> None:
    projects = resources(pipeline_template, "AWS::CodeBuild::Project")
    [spec] = [
        p["Properties"]["Source"]["BuildSpec"]
        for p in projects.values()
        if "deploytools.environment_status" in p["Properties"]["Source"].get("BuildSpec", "")
    ]
    assert 'python -m deploytools.environment_status $(for key in $ENVIRONMENTS; do printf -- \\"--environment' in spec


def test_dag_pipeline_starts_when_dags_change(pipeline_template: Template) -> None:
    dags = pipeline_named(pipeline_template, "mwaa-platform-dags")
    [trigger] = dags["Triggers"]
    assert trigger["GitConfiguration"]["Push"] == [
        {"Branches": {"Includes": ["main"]}, "FilePaths": {"Includes": ["dags/**"]}}
    ]


def test_dag_codebuild_runs_the_repository_buildspec(
    pipeline_template: Template, example_config: ProjectConfig
) -> None:
    dags = pipeline_named(pipeline_template, "mwaa-platform-dags")
    projects = resources(pipeline_template, "AWS::CodeBuild::Project")
    used = {
        a["Configuration"]["ProjectName"]["Ref"]
        for s in dags["Stages"]
        for a in s["Actions"]
        if "ProjectName" in a.get("Configuration", {})
    }
    assert len(used) == 2
    for project_id in used:
        assert "BuildSpec" not in projects[project_id]["Properties"]["Source"]  # buildspec.yml from the source
    sync_actions = [a for s in dags["Stages"] for a in s["Actions"] if "SyncDags" in a["Name"]]
    for env, action in zip(example_config.environments, sync_actions, strict=True):
        variables = {v["name"]: v["value"] for v in json.loads(action["Configuration"]["EnvironmentVariables"])}
        assert variables == {"DAG_ENVIRONMENT": env.stage}  # the rest comes from config (buildspec.yml)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_dag_sync_role_writes_only_under_dags(
    templates: dict[str, Template], stage: str, example_config: ProjectConfig
) -> None:
    env = example_config.environment(stage)
    roles = resources(templates[f"{stage}-storage"], "AWS::IAM::Role").values()
    [role] = [r["Properties"] for r in roles if r["Properties"].get("RoleName") == f"mwaa-{stage}-dag-sync"]
    bucket = f"arn:aws:s3:::{env.bucket_name}"
    assert role["Policies"][0]["PolicyDocument"]["Statement"] == [
        {
            "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": ["dags/", "dags/*"]}},
            "Effect": "Allow",
            "Resource": bucket,
            "Sid": "ListDagsPrefix",
        },
        {
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": f"{bucket}/dags/*",
            "Sid": "WriteDags",
        },
        # A private web server (prod) is read through the DAG reader in its VPC; a public one directly.
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": f"arn:aws:lambda:eu-west-1:{env.account}:function:{env.environment_name}-dag-reader",
            "Sid": "AskTheDagReader",
        }
        if env.private_web_server
        else {
            "Action": "airflow:InvokeRestApi",
            "Effect": "Allow",
            "Resource": f"arn:aws:airflow:eu-west-1:{env.account}:role/{env.environment_name}/Viewer",
            "Sid": "ReadAirflowAsViewer",
        },
    ] + (
        [
            {
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]},
                "Sid": "UseBucketKey",
            }
        ]
        if env.kms_key
        else []
    )
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        tools_trust(
            "arn:aws:iam::999999999999:role/mwaa-platform-dag-seed",
            "arn:aws:iam::999999999999:role/mwaa-platform-dag-sync",
        )
    ]


def build_commands(pipeline_template: Template, marker: str) -> list[str]:
    [spec] = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in resources(pipeline_template, "AWS::CodeBuild::Project").values()
        if marker in p["Properties"]["Source"].get("BuildSpec", "")
    ]
    commands: list[str] = spec["phases"]["build"]["commands"]
    return commands


def test_dag_code_never_runs_in_the_build_that_makes_the_templates(pipeline_template: Template) -> None:
    """A DAG file runs code when parsed or tested; it must not be able to touch cdk.out before it deploys."""
    assert build_commands(pipeline_template, "scripts/synth.sh") == [
        "scripts/test.sh -m 'not airflow'",
        "scripts/synth.sh",
    ]
    assert build_commands(pipeline_template, "-m 'airflow and not browser'") == [
        "scripts/test.sh -m 'airflow and not browser'"
    ]
    dev = [a for a in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform")) if a[0] == "dev"]
    names = [name for _, name, _, _ in dev]
    assert names.index("CheckDags") < min(i for i, n in enumerate(names) if n.endswith(".Prepare"))
    prod = [name for stage, name, _, _ in actions_in_order(pipeline_named(pipeline_template, "mwaa-platform"))]
    assert prod.count("CheckDags") == 1


def test_both_pipelines_may_use_the_connection_under_either_prefix(pipeline_template: Template) -> None:
    """A connection ARN of either service prefix authorizes through the matching UseConnection action."""
    arn = "arn:aws:codeconnections:eu-west-1:999999999999:connection/00000000-0000-4000-8000-000000000000"
    granted: dict[str, int] = {}
    for policy in resources(pipeline_template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Resource") == arn:
                for action in as_list(statement["Action"]):
                    granted[action] = granted.get(action, 0) + 1
    assert granted == {"codestar-connections:UseConnection": 2, "codeconnections:UseConnection": 2}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
