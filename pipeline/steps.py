"""The CodeBuild steps the main pipeline adds around each environment's stacks.

Each step gets the smallest permissions it needs (assume one role in one account, or call one API on
one pipeline). Tool versions are pinned: Python packages from dagtools/requirements/tools.txt, the
CDK CLI from package.json.
"""

from __future__ import annotations

from aws_cdk import Stack, aws_iam as iam, pipelines
from constructs import Construct

from config import DAGS_PREFIX, EnvironmentConfig, PipelineConfig
from pipeline.versions import ToolVersions

# The tools' venv, made with uv as in buildspec.yml (CodeBuild runs a build's commands in one shell).
INSTALL_TOOLS = ["scripts/install-tools.sh .venv-tools", 'export PATH="$PWD/.venv-tools/bin:$PATH"']
CHANGE_SET_NAME = "PipelineChange"  # the name CDK Pipelines gives every change set it creates


def assume(*role_arns: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["sts:AssumeRole"], resources=list(role_arns))


def tool_step(
    step_id: str,
    *,
    source: pipelines.IFileSetProducer,
    command: str,
    role: iam.IRole | None = None,
    statements: list[iam.PolicyStatement] | None = None,
) -> pipelines.CodeBuildStep:
    """A step that runs one of our boto3-only tools (dagtools, deploytools) from the source."""
    return pipelines.CodeBuildStep(
        step_id,
        input=source,
        role=role,
        install_commands=INSTALL_TOOLS,
        commands=[command],
        role_policy_statements=statements,
    )


def seed_dags_step(
    *, env_config: EnvironmentConfig, source: pipelines.IFileSetProducer, role: iam.IRole
) -> pipelines.CodeBuildStep:
    """Before the environment exists, put DAGs in its bucket; afterwards only the DAG pipeline writes dags/."""
    return tool_step(
        f"SeedDags-{env_config.stage}",
        source=source,
        role=role,
        command="python -m dagtools sync --seed-only --source dags"
        f" --bucket {env_config.bucket_name} --prefix {DAGS_PREFIX}"
        f" --role-arn {env_config.dag_sync_role_arn}"
        f" --expected-bucket-owner {env_config.account} --region {env_config.region}",
    )


def replacement_guard_step(
    *, env_config: EnvironmentConfig, stack_name: str, source: pipelines.IFileSetProducer
) -> pipelines.CodeBuildStep:
    allow = " --allow-replacement" if env_config.allow_replacement else ""
    deploy_role = env_config.bootstrap_role_arn("deploy")
    return tool_step(
        f"ReplacementGuard-{stack_name}",
        source=source,
        command=f"python -m deploytools.replacement_guard --stack-name {stack_name}"
        f" --change-set-name {CHANGE_SET_NAME} --role-arn {deploy_role} --region {env_config.region}{allow}",
        statements=[assume(deploy_role)],
    )


def environment_status_step(
    *,
    env_config: EnvironmentConfig,
    pipeline_config: PipelineConfig,
    source: pipelines.IFileSetProducer,
    role: iam.IRole,
) -> pipelines.CodeBuildStep:
    """Wait for AVAILABLE, then record the environment as deployed (the DAG pipeline syncs only then); the
    first time, start the DAG pipeline, so DAG commits pushed during the create reach the environment."""
    return tool_step(
        f"CheckAvailable-{env_config.stage}",
        source=source,
        role=role,
        command=f"python -m deploytools.environment_status --name {env_config.environment_name}"
        f" --role-arn {env_config.status_reader_role_arn} --region {env_config.region}"
        f" --record-parameter {pipeline_config.deployed_parameter(env_config.stage)}"
        f" --start-pipeline {pipeline_config.dag_pipeline_name}",
    )


def security_approval_steps(
    scope: Construct,
    *,
    env_config: EnvironmentConfig,
    pipeline_config: PipelineConfig,
    synth_output: pipelines.IFileSetProducer,
    versions: ToolVersions,
) -> list[pipelines.Step]:
    """A security diff that approves by itself when nothing widened, and the approval it answers.

    They run in parallel: the approval is waiting by the time the diff asks for its token. This
    replaces CDK's ConfirmPermissionsBroadening, which installs an unpinned CLI with `npm install -g`.
    """
    approval_name = f"ConfirmSecurityChanges-{env_config.stage}"
    approval = pipelines.ManualApprovalStep(
        approval_name,
        comment=f"IAM or security-group changes widen permissions in {env_config.stage}: review the SecurityDiff log.",
    )
    stack = Stack.of(scope)
    pipeline_arn = stack.format_arn(service="codepipeline", resource=pipeline_config.name)
    diff = pipelines.CodeBuildStep(
        f"SecurityDiff-{env_config.stage}",
        input=synth_output,
        install_commands=[f"npm install --no-save --no-audit --no-fund aws-cdk@{versions.cdk_cli}"],
        commands=[
            f'if node_modules/.bin/cdk diff --app . --security-only --fail "{env_config.stage}/*"; then'
            f" token=$(aws codepipeline get-pipeline-state --name {pipeline_config.name}"
            f" --query \"stageStates[?stageName=='{env_config.stage}'].actionStates[?actionName=='{approval_name}']"
            '.latestExecution.token" --output text);'
            f" aws codepipeline put-approval-result --pipeline-name {pipeline_config.name}"
            f" --stage-name {env_config.stage} --action-name {approval_name}"
            ' --result "summary=No widened permissions,status=Approved" --token "$token";'
            " else echo 'Permissions widen, or the diff could not run (see above): waiting for a person.'; fi"
        ],
        role_policy_statements=[
            assume(env_config.bootstrap_role_arn("lookup")),
            iam.PolicyStatement(actions=["codepipeline:GetPipelineState"], resources=[pipeline_arn]),
            iam.PolicyStatement(
                actions=["codepipeline:PutApprovalResult"],
                resources=[f"{pipeline_arn}/{env_config.stage}/{approval_name}"],
            ),
        ],
    )
    return [diff, approval]
