"""The tools-account stack: the self-mutating main pipeline, the DAG pipeline and their notifications."""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    Environment,
    Stack,
    aws_codebuild as codebuild,
    aws_codepipeline as codepipeline,
    aws_codestarnotifications as notifications,
    aws_iam as iam,
    aws_kms as kms,
    aws_logs as logs,
    aws_sns as sns,
    pipelines,
)
from constructs import Construct

from config import ProjectConfig
from pipeline.dag_pipeline import DAG_PATHS, DagPipeline
from pipeline.environment_steps import RUNTIMES, EnvironmentSteps
from pipeline.generated_grants import ARTIFACT_KEY_ACTIONS, acknowledge_generated_grants
from pipeline.versions import ToolVersions
from stages import MwaaStage
from stages.encryption import allow_logs_to_use
from stages.nag import acknowledge

BUILD_SPEC_RUNTIMES = {"phases": {"install": {"runtime-versions": RUNTIMES}}}
# pytest markers: what runs in the synth build, and what (DAG code) runs in its own build.
SYNTH_TESTS = "not airflow"
# The browser test needs Debian's Chromium, which CodeBuild's Ubuntu image has only as a snap.
DAG_TESTS = "airflow and not browser"
NOTIFIED_EVENTS = [
    codepipeline.PipelineNotificationEvents.PIPELINE_EXECUTION_FAILED,
    codepipeline.PipelineNotificationEvents.ACTION_EXECUTION_FAILED,
    codepipeline.PipelineNotificationEvents.MANUAL_APPROVAL_NEEDED,
]


def allow_both_connection_prefixes(pipeline: codepipeline.Pipeline, connection_arn: str) -> None:
    """CDK grants codestar-connections:UseConnection; a connection made as arn:aws:codeconnections:...
    is authorized under codeconnections:UseConnection. Grant both, so either ARN form works. The source
    action runs with the pipeline's role (`use_pipeline_role_for_actions`)."""
    pipeline.role.add_to_principal_policy(
        iam.PolicyStatement(actions=["codeconnections:UseConnection"], resources=[connection_arn])
    )


class DeliveryPipelineStack(Stack):
    """Deployed once by hand (`cdk deploy`); from then on it updates itself from git."""

    def __init__(
        self, scope: Construct, *, project: ProjectConfig, stages: list[MwaaStage], versions: ToolVersions
    ) -> None:
        config = project.pipeline
        self.config = config
        self.versions = versions
        super().__init__(
            scope,
            config.stack_name,
            env=Environment(account=config.account, region=config.region),
            description="MWAA delivery: the main (infrastructure) pipeline and the DAG-only pipeline",
            # No CDKMetadata resource: its construct report grows with every environment's actions.
            analytics_reporting=False,
            termination_protection=True,
        )
        build_logs = self._build_log_group(config.name)
        source = pipelines.CodePipelineSource.connection(
            config.repository, config.branch, connection_arn=config.connection_arn, action_name="Source"
        )
        # The synth build runs every test that does not execute DAG code; the DAG checks and local runs
        # execute code from dags/, so they run in their own build (CheckDags), whose output nothing reads:
        # a DAG file can never change the templates that get deployed.
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            install_commands=["scripts/install.sh"],
            commands=[f"scripts/test.sh -m '{SYNTH_TESTS}'", "scripts/synth.sh"],
            primary_output_directory="cdk.out",
        )
        self.check_dags = pipelines.CodeBuildStep(
            "CheckDags",
            input=source,
            install_commands=["scripts/install.sh"],
            commands=[f"scripts/test.sh -m '{DAG_TESTS}'"],
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=config.name,
            pipeline_type=codepipeline.PipelineType.V2,
            # Approvals and the environment steps' builds run with the pipeline's role, not a role per action
            # (two per environment).
            use_pipeline_role_for_actions=True,
            synth=synth,
            self_mutation=True,
            cross_account_keys=True,
            enable_key_rotation=True,
            cli_version=versions.cdk_cli,
            cdk_assets_cli_version=versions.cdk_assets,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0),
                partial_build_spec=codebuild.BuildSpec.from_object(BUILD_SPEC_RUNTIMES),
                logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)),
            ),
        )

        self.steps = EnvironmentSteps(
            self, "EnvironmentSteps", project=project, versions=versions, build_logs=build_logs
        )
        assert source.primary_output and synth.primary_output  # a source and a synth always have one
        by_stage = {stage.env_config.stage: stage for stage in stages}
        for index, (wave, envs) in enumerate(project.waves):
            self._deploy_wave(
                wave,
                [by_stage[env.stage] for env in envs],
                source=source.primary_output,
                synth=synth.primary_output,
                checks=[self.check_dags] if index == 0 else [],
            )

        self.pipeline.build_pipeline()
        # Commits that touch only dags/ go through the DAG pipeline; any other file starts this one.
        source_stage = self.pipeline.pipeline.stages[0]
        self.pipeline.pipeline.add_trigger(
            provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
            git_configuration=codepipeline.GitConfiguration(
                source_action=source_stage.actions[0],
                push_filter=[
                    codepipeline.GitPushFilter(branches_includes=[config.branch], file_paths_excludes=DAG_PATHS)
                ],
            ),
        )

        self.dag_pipeline = DagPipeline(self, "DagPipeline", project=project, build_logs=build_logs)
        for target in (self.pipeline.pipeline, self.dag_pipeline.pipeline):
            allow_both_connection_prefixes(target, config.connection_arn)
        topic = self._notification_topic(config.notification_topic)
        for name, target in (("Main", self.pipeline.pipeline), ("Dags", self.dag_pipeline.pipeline)):
            target.notify_on(
                f"Notify{name}",
                topic,
                events=NOTIFIED_EVENTS,
                detail_type=notifications.DetailType.FULL,
            )
        self._acknowledge_generated()

    def _deploy_wave(
        self,
        wave: str,
        stages: list[MwaaStage],
        *,
        source: pipelines.FileSet,
        synth: pipelines.FileSet,
        checks: list[pipelines.Step],
    ) -> None:
        """One wave: its environments' security diffs and approvals, its promotion, then each environment's
        stacks behind their replacement guards, the environments side by side."""
        envs = [stage.env_config for stage in stages]
        # Each diff answers its approval, so both run side by side (the approval must be waiting for the
        # diff to approve it); the wave's promotion, where config asks for one, comes after all of them.
        pre = checks + self.steps.security_steps(wave, envs, synth)
        if envs[0].approval:
            promote = self.steps.promotion(wave, envs)
            for step in pre:
                promote.add_step_dependency(step)
            pre.append(promote)
        deployments = self.pipeline.add_wave(wave, pre=pre, post=[self.steps.check_available(wave, envs, source)])
        for stage in stages:
            env = stage.env_config

            # network and storage make their change sets side by side, so one guard checks both before either
            # runs; with the environment's key, network waits for storage, and each has its own guard.
            if env.network_waits_for_storage:
                guards = [self.steps.replacement_guard(env, source, stack) for stack in ("storage", "network")]
            else:
                guards = 2 * [self.steps.replacement_guard(env, source)]
            stack_steps = [
                pipelines.StackSteps(stack=stage.storage, change_set=[guards[0]]),
                pipelines.StackSteps(stack=stage.network, change_set=[guards[1]]),
                pipelines.StackSteps(stack=stage.mwaa, change_set=[self.steps.seed_dags_and_guard(env, source)]),
            ]
            deployments.add_stage(stage, stack_steps=stack_steps)

    def _acknowledge_generated(self) -> None:
        main_bucket = self.pipeline.pipeline.artifact_bucket
        replication_buckets = [s.replication_bucket for s in self.pipeline.pipeline.cross_region_support.values()]
        for bucket in [main_bucket, *replication_buckets]:
            acknowledge(
                bucket,
                "S1",
                "CDK Pipelines' artifact bucket (or its copy in another region) holds transient, KMS-encrypted "
                "build artifacts; every change is recorded in git and in the pipeline's execution history.",
            )
        main_key = main_bucket.encryption_key
        assert main_key is not None  # cross_account_keys=True always creates it
        if replication_buckets:
            self._confine_replication_keys(main_key, regions=sorted(self.pipeline.pipeline.cross_region_support))
        acknowledge_generated_grants(
            self,
            artifact_buckets=[main_bucket, self.dag_pipeline.artifact_bucket],
            artifact_keys=[main_key, self.dag_pipeline.artifact_key],
            replication_bucket_arns=[self.resolve(b.bucket_arn) for b in replication_buckets],
        )

    def _confine_replication_keys(self, main_key: kms.IKey, *, regions: list[str]) -> None:
        """A key ARN cannot cross regions, so CDK grants the pipeline role its replication keys' use on
        `*`. This deny keeps that grant to the artifact key and the tools account's keys in the
        regions that hold a replication bucket."""
        self.pipeline.pipeline.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OnlyArtifactKeys",
                effect=iam.Effect.DENY,
                actions=list(ARTIFACT_KEY_ACTIONS),
                not_resources=[
                    main_key.key_arn,
                    *(f"arn:{self.partition}:kms:{region}:{self.account}:key/*" for region in regions),
                ],
            )
        )

    def _build_log_group(self, name: str) -> logs.LogGroup:
        """One KMS-encrypted log group for every build of both pipelines (a stream per build)."""
        group_name = f"/{name}/builds"
        key = kms.Key(self, "BuildLogsKey", enable_key_rotation=True, description="Encrypts the pipelines' build logs")
        allow_logs_to_use(
            key,
            sid="CloudWatchLogsForBuildLogs",
            region=self.region,
            log_groups_arns=[
                self.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        return logs.LogGroup(
            self, "BuildLogs", log_group_name=group_name, encryption_key=key, retention=logs.RetentionDays.ONE_YEAR
        )

    def _notification_topic(self, name: str) -> sns.Topic:
        key = kms.Key(
            self,
            "NotificationKey",
            enable_key_rotation=True,
            description="Encrypts the pipeline notification topic",
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("codestar-notifications.amazonaws.com")],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}},
            )
        )
        acknowledge(
            key,
            "IAM5[Resource::*]",
            "In a key policy, Resource * means this key only; the statement lets CodeStar Notifications "
            "encrypt messages for the topic, via SNS only.",
        )
        return sns.Topic(self, "Notifications", topic_name=name, master_key=key, enforce_ssl=True)
