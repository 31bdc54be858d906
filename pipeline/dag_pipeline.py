"""The DAG-only pipeline: validate the DAGs, then sync `dags/` to each environment's bucket.

No CloudFormation and no self-mutation here: a DAG change reaches the bucket in minutes and never
touches the environment. CodeBuild runs the repository's buildspec.yml, so CI and the pipeline run
the same steps. Execution mode SUPERSEDED: a newer commit replaces one still waiting at an approval.

One build before the first environment validates and syncs (the check gates the sync inside it, and
a second CodeBuild start-up is saved); each later environment syncs after its approval on Lambda
compute, which starts in seconds and fits a boto3-only sync (no Airflow, no cache, well under its
15-minute limit). Each sync then waits until the environment serves the uploaded DAG files. The first
build's output (the checked source and the check's index of which DAGs each file defines) is what the
later environments sync and wait for.
"""

from __future__ import annotations

from aws_cdk import (
    Duration,
    RemovalPolicy,
    aws_codebuild as codebuild,
    aws_codepipeline as codepipeline,
    aws_codepipeline_actions as actions,
    aws_iam as iam,
    aws_kms as kms,
    aws_logs as logs,
    aws_s3 as s3,
)
from constructs import Construct

from config import DAGS_PREFIX, ProjectConfig
from stages.nag import acknowledge

DAG_PATHS = [f"{DAGS_PREFIX}**"]


class DagPipeline(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, project: ProjectConfig, build_logs: logs.ILogGroup
    ) -> None:
        super().__init__(scope, construct_id)
        config = project.pipeline
        self.artifact_key = key = kms.Key(
            self, "ArtifactKey", enable_key_rotation=True, description="DAG pipeline artifacts and logs"
        )
        self.artifact_bucket = bucket = s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        acknowledge(
            bucket,
            "S1",
            "Holds only transient source zips of the DAG pipeline, expired after 30 days; "
            "who changed DAGs is in git and in the pipeline's execution history.",
        )

        source_output = codepipeline.Artifact("Source")
        source = actions.CodeStarConnectionsSourceAction(
            action_name="Source",
            owner=config.repository.split("/")[0],
            repo=config.repository.split("/")[1],
            branch=config.branch,
            connection_arn=config.connection_arn,
            output=source_output,
        )
        self.build_logs = build_logs
        sync_role = iam.Role(
            self,
            "SyncRole",
            role_name=config.dag_sync_role_name,
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Runs the DAG sync; may only assume each environment's DAG sync role",
        )
        sync_role.add_to_policy(
            iam.PolicyStatement(
                actions=["sts:AssumeRole"], resources=[env.dag_sync_role_arn for env in project.environments]
            )
        )
        sync_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDeployed",
                actions=["ssm:GetParameter"],
                resources=[config.deployed_parameter_arn(env.stage) for env in project.environments],
            )
        )
        check_and_sync = self._project(
            "CheckAndSync",
            key,
            role=sync_role,
            environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0),
            timeout=Duration.minutes(30),
        )
        sync = self._project(
            "Sync",
            key,
            role=sync_role,
            step="sync",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxLambdaBuildImage.AMAZON_LINUX_2023_PYTHON_3_12,
                compute_type=codebuild.ComputeType.LAMBDA_1GB,
            ),
        )

        checked = codepipeline.Artifact("Checked")
        stages = [codepipeline.StageProps(stage_name="Source", actions=[source])]
        first = project.environments[0]
        for wave, envs in project.waves:
            steps: list[codepipeline.IAction] = []
            if envs[0].approval:
                names = ", ".join(env.stage for env in envs)
                steps.append(
                    actions.ManualApprovalAction(
                        action_name="Approve",
                        run_order=1,
                        additional_information=f"Sync these DAGs to {names}?",
                    )
                )
            for env in envs:
                # The first environment's build checks, syncs and passes the checked source on; the others
                # sync that, after it when they share its wave.
                steps.append(
                    actions.CodeBuildAction(
                        action_name="CheckAndSyncDags" if env is first else f"SyncDags-{env.stage}",
                        project=check_and_sync if env is first else sync,
                        input=source_output if env is first else checked,
                        outputs=[checked] if env is first else None,
                        run_order=2 if env is first or first not in envs else 3,
                        # The rest of the environment comes from config (buildspec.yml).
                        environment_variables={"DAG_ENVIRONMENT": codebuild.BuildEnvironmentVariable(value=env.stage)},
                    )
                )
            stages.append(codepipeline.StageProps(stage_name=f"Dags-{wave}", actions=steps))

        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=config.dag_pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            execution_mode=codepipeline.ExecutionMode.SUPERSEDED,
            # Approvals and builds run with the pipeline's role, not a role per action (two per environment).
            use_pipeline_role_for_actions=True,
            artifact_bucket=bucket,
            restart_execution_on_update=False,
            stages=stages,
            triggers=[
                codepipeline.TriggerProps(
                    provider_type=codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
                    git_configuration=codepipeline.GitConfiguration(
                        source_action=source,
                        push_filter=[
                            codepipeline.GitPushFilter(branches_includes=[config.branch], file_paths_includes=DAG_PATHS)
                        ],
                    ),
                )
            ],
        )

    def _project(
        self,
        construct_id: str,
        key: kms.IKey,
        *,
        role: iam.IRole,
        environment: codebuild.BuildEnvironment,
        step: str | None = None,
        timeout: Duration | None = None,
    ) -> codebuild.PipelineProject:
        """A project that runs buildspec.yml from the source; DAG_STEP=sync skips the check."""
        return codebuild.PipelineProject(
            self,
            construct_id,
            role=role,
            encryption_key=key,
            environment=environment,
            environment_variables={"DAG_STEP": codebuild.BuildEnvironmentVariable(value=step)} if step else None,
            timeout=timeout,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)),
        )
