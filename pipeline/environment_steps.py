"""The main pipeline's steps around each environment, on CodeBuild projects shared by every environment.

A step differs between environments only by what it is told (which stack, which role, which region),
so each kind of step has one project, and one role, for all environments; each environment's action
passes its own values as environment variables, fixed in the pipeline's definition. The pipeline stack
so grows by actions, not by projects and roles, with each environment (about 19 resources each before):
see docs/operators.md, "Adding an environment".

What a shared role may do is what the per-environment roles did together: assume each environment's
own role for the step (its deploy, lookup or status-reader role, or its DAG sync role), nothing else.
Which environment an action acts on is written in the pipeline definition, which only a reviewed
commit changes; the variables are not read from anything a build could alter.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import (
    Stack,
    aws_codebuild as codebuild,
    aws_codepipeline as codepipeline,
    aws_codepipeline_actions as actions,
    aws_iam as iam,
    aws_logs as logs,
    pipelines,
)
from constructs import Construct

from config import DAGS_PREFIX, EnvironmentConfig, ProjectConfig
from pipeline.versions import ToolVersions

# The tools' venv, made with uv as in buildspec.yml (CodeBuild runs a build's commands in one shell).
INSTALL_TOOLS = ["scripts/install-tools.sh .venv-tools", 'export PATH="$PWD/.venv-tools/bin:$PATH"']
RUNTIMES = {"python": "3.12", "nodejs": "22"}  # MWAA's Python; a Node the CDK CLI runs on without warnings
CHANGE_SET_NAME = "PipelineChange"  # the name CDK Pipelines gives every change set it creates
NAMED_ROLE_LOGICAL_IDS = {"SeedRole": "SeedRole5DAA6E70", "StatusRole": "StatusRoleD1C01816"}


def assume(*role_arns: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["sts:AssumeRole"], resources=sorted(set(role_arns)))


@jsii.implements(pipelines.ICodePipelineActionFactory)
class SharedBuildStep(pipelines.Step):
    """One environment's run of a shared project: a CodeBuild action with this environment's variables."""

    def __init__(
        self,
        step_id: str,
        *,
        project: codebuild.IProject,
        input: pipelines.FileSet,
        variables: dict[str, str],
    ) -> None:
        super().__init__(step_id)
        self.project = project
        self.input = input
        self.variables = variables
        self._add_dependency_file_set(input)

    def produce_action(
        self,
        stage: codepipeline.IStage,
        *,
        action_name: str,
        artifacts: pipelines.ArtifactMap,
        run_order: float,
        **_: Any,
    ) -> pipelines.CodePipelineActionFactoryResult:
        stage.add_action(
            actions.CodeBuildAction(
                action_name=action_name,
                run_order=run_order,
                project=self.project,
                input=artifacts.to_code_pipeline(self.input),
                environment_variables={
                    name: codebuild.BuildEnvironmentVariable(value=value) for name, value in self.variables.items()
                },
            )
        )
        return pipelines.CodePipelineActionFactoryResult(run_orders_consumed=1)


@jsii.implements(pipelines.ICodePipelineActionFactory)
class ApprovalStep(pipelines.Step):
    """A manual approval, run with the pipeline's own role (CDK Pipelines' ManualApprovalStep would get a
    role of its own, one more per environment)."""

    def __init__(self, step_id: str, *, comment: str) -> None:
        super().__init__(step_id)
        self.comment = comment

    def produce_action(
        self, stage: codepipeline.IStage, *, action_name: str, run_order: float, **_: Any
    ) -> pipelines.CodePipelineActionFactoryResult:
        stage.add_action(
            actions.ManualApprovalAction(
                action_name=action_name, run_order=run_order, additional_information=self.comment
            )
        )
        return pipelines.CodePipelineActionFactoryResult(run_orders_consumed=1)


class EnvironmentSteps(Construct):
    """The four shared projects (replacement guard, DAG seed with the MWAA stack's guard, availability check,
    security diff) and their
    roles. The pipeline starts their builds and runs the approvals with its own role (no role per action:
    `use_pipeline_role_for_actions`), which CDK grants to start and watch exactly these builds."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: ProjectConfig,
        versions: ToolVersions,
        build_logs: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        config = project.pipeline
        self.config = config
        stack = Stack.of(self)
        self.pipeline_arn = stack.format_arn(service="codepipeline", resource=config.name)
        envs = project.environments
        self.guard = self._project(
            "ReplacementGuard",
            build_logs,
            'python -m deploytools.replacement_guard --stack-name "$STACK_NAME"'
            f' --change-set-name {CHANGE_SET_NAME} --role-arn "$DEPLOY_ROLE_ARN" --region "$REGION"'
            " ${ALLOW_REPLACEMENT:+--allow-replacement}",
            role=self._role("ReplacementGuardRole", [assume(*(e.bootstrap_role_arn("deploy") for e in envs))]),
        )
        # Before the MWAA stack's change set runs: put DAGs in its bucket if it has none (a new environment
        # needs them to start; afterwards only the DAG pipeline writes dags/), then the same guard. One
        # action instead of two, with a role trusted by the environments' DAG sync roles by its name.
        self.seed_and_guard = self._project(
            "SeedDagsAndGuard",
            build_logs,
            f'python -m dagtools sync --seed-only --source dags --prefix {DAGS_PREFIX} --environment "$ENVIRONMENT"'
            ' --assume-sync-role && python -m deploytools.replacement_guard --environment "$ENVIRONMENT" --stack mwaa'
            f" --change-set-name {CHANGE_SET_NAME}",
            role=self._role(
                "SeedRole",
                [
                    assume(*(e.dag_sync_role_arn for e in envs)),
                    assume(*(e.bootstrap_role_arn("deploy") for e in envs)),
                ],
                role_name=config.seed_role_name,
            ),
        )
        self.status = self._project(
            "CheckAvailable",
            build_logs,
            "set -f; python -m deploytools.environment_status"
            ' $(for key in $ENVIRONMENTS; do printf -- "--environment %s " "$key"; done)',
            role=self._role(
                "StatusRole",
                [
                    assume(*(e.status_reader_role_arn for e in envs)),
                    iam.PolicyStatement(
                        sid="RecordDeployed",
                        actions=["ssm:PutParameter"],
                        resources=[config.deployed_parameter_arn(e.stage) for e in envs],
                    ),
                    iam.PolicyStatement(
                        sid="StartDagPipelineOnFirstDeploy",
                        actions=["codepipeline:StartPipelineExecution"],
                        resources=[stack.format_arn(service="codepipeline", resource=config.dag_pipeline_name)],
                    ),
                ],
                role_name=config.status_check_role_name,
            ),
        )
        self.diff = self._project(
            "SecurityDiff",
            build_logs,
            # The diff of the wave's stages answers the approval beside it when nothing widens; otherwise a
            # person does. (No globbing: the stage patterns go to the CLI as they are.)
            'set -f; patterns=""; for stage in $CDK_STAGES; do patterns="$patterns $stage/*"; done;'
            " if node_modules/.bin/cdk diff --app . --security-only --fail $patterns; then"
            f" token=$(aws codepipeline get-pipeline-state --name {config.name}"
            " --query \"stageStates[?stageName=='$PIPELINE_STAGE'].actionStates[?actionName=='$APPROVAL']"
            '.latestExecution.token" --output text);'
            f" aws codepipeline put-approval-result --pipeline-name {config.name}"
            ' --stage-name "$PIPELINE_STAGE" --action-name "$APPROVAL"'
            ' --result "summary=No widened permissions,status=Approved" --token "$token";'
            " else echo 'Permissions widen, or the diff could not run (see above): waiting for a person.'; fi",
            install=[f"npm install --no-save --no-audit --no-fund aws-cdk@{versions.cdk_cli}"],
            role=self._role(
                "SecurityDiffRole",
                [
                    assume(*(e.bootstrap_role_arn("lookup") for e in envs)),
                    iam.PolicyStatement(actions=["codepipeline:GetPipelineState"], resources=[self.pipeline_arn]),
                    iam.PolicyStatement(
                        actions=["codepipeline:PutApprovalResult"],
                        resources=[
                            f"{self.pipeline_arn}/{wave}/{self.confirm_name(wave)}" for wave, _ in project.waves
                        ],
                    ),
                ],
            ),
        )

    @staticmethod
    def confirm_name(wave: str) -> str:
        return f"ConfirmSecurityChanges-{wave}"

    @staticmethod
    def pipeline_stage(wave: str, envs: list[EnvironmentConfig]) -> str:
        """The main pipeline's stage of a wave: CDK Pipelines names a wave of one environment after it."""
        return envs[0].stage if len(envs) == 1 else wave

    def _role(self, construct_id: str, statements: list[iam.PolicyStatement], role_name: str | None = None) -> iam.Role:
        role = iam.Role(
            self, construct_id, role_name=role_name, assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com")
        )
        if role_name:
            # A role with a fixed name keeps the logical ID it had when each environment had its own step
            # projects: CloudFormation creates a renamed resource before deleting the old one, and the name
            # would clash (tests/test_scale.py).
            cfn_role = role.node.default_child
            assert isinstance(cfn_role, iam.CfnRole)
            cfn_role.override_logical_id(NAMED_ROLE_LOGICAL_IDS[construct_id])
        for statement in statements:
            role.add_to_policy(statement)
        return role

    def _project(
        self,
        construct_id: str,
        build_logs: logs.ILogGroup,
        command: str,
        *,
        role: iam.IRole,
        install: list[str] = INSTALL_TOOLS,
    ) -> codebuild.PipelineProject:
        return codebuild.PipelineProject(
            self,
            construct_id,
            role=role,
            environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0),
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "phases": {
                        "install": {"runtime-versions": RUNTIMES, "commands": install},
                        "build": {"commands": [command]},
                    },
                }
            ),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)),
        )

    # --- one environment's steps ---------------------------------------------------------------

    def security_steps(
        self, wave: str, envs: list[EnvironmentConfig], synth_output: pipelines.FileSet
    ) -> list[pipelines.Step]:
        """A security diff of the wave's environments that approves by itself when nothing widened, and the
        approval it answers. They run side by side: the approval is waiting by the time the diff asks for
        its token. This replaces CDK's ConfirmPermissionsBroadening, which installs an unpinned CLI with
        `npm install -g`."""
        names = ", ".join(env.stage for env in envs)
        confirm = ApprovalStep(
            self.confirm_name(wave),
            comment=f"IAM or security-group changes widen permissions in {names}: review the SecurityDiff log.",
        )
        diff = SharedBuildStep(
            f"SecurityDiff-{wave}",
            project=self.diff,
            input=synth_output,
            variables={
                "CDK_STAGES": " ".join(env.stage for env in envs),
                "PIPELINE_STAGE": self.pipeline_stage(wave, envs),
                "APPROVAL": self.confirm_name(wave),
            },
        )
        return [diff, confirm]

    def promotion(self, wave: str, envs: list[EnvironmentConfig]) -> ApprovalStep:
        names = ", ".join(env.stage for env in envs)
        return ApprovalStep(f"Promote-{wave}", comment=f"Deploy this commit to {names}?")

    def replacement_guard(
        self, env: EnvironmentConfig, source: pipelines.FileSet, stack: str | None = None
    ) -> pipelines.Step:
        """The guard of the network and storage stacks' change sets (an action fewer than one per stack), or of
        one of them when they are not made side by side."""
        step_id = f"ReplacementGuard-{env.stage}" + (f"-{stack}" if stack else "")
        return self._step(step_id, self.guard, env, source, **({"STACKS": stack} if stack else {}))

    def seed_dags_and_guard(self, env: EnvironmentConfig, source: pipelines.FileSet) -> pipelines.Step:
        """Between the MWAA stack's change set and its execution: DAGs into an empty bucket, then the guard."""
        return self._step(f"SeedDagsAndGuard-{env.stage}", self.seed_and_guard, env, source)

    def check_available(self, wave: str, envs: list[EnvironmentConfig], source: pipelines.FileSet) -> pipelines.Step:
        """After the wave: wait until its environments are AVAILABLE, then record them as deployed (the DAG
        pipeline syncs only then); the first time, start the DAG pipeline, so DAG commits pushed during the
        create reach them. One action for the wave, its environments waited for side by side."""
        return SharedBuildStep(
            f"CheckAvailable-{wave}",
            project=self.status,
            input=source,
            variables={"ENVIRONMENTS": " ".join(env.stage for env in envs)},
        )

    def _step(
        self,
        step_id: str,
        project: codebuild.IProject,
        env: EnvironmentConfig,
        source: pipelines.FileSet,
        **variables: str,
    ) -> pipelines.Step:
        return SharedBuildStep(
            step_id, project=project, input=source, variables={"ENVIRONMENT": env.stage, **variables}
        )
