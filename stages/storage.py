"""Storage stack: the MWAA source bucket (dags/, later requirements, plugins) and its access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, aws_s3 as s3
from constructs import Construct

from config import EnvironmentConfig, PipelineConfig
from stages.dag_sync_role import DagSyncRole
from stages.encryption import EnvironmentKey
from stages.environment_stack import EnvironmentStack
from stages.nag import acknowledge

NONCURRENT_VERSION_DAYS = 90
NONCURRENT_VERSIONS_KEPT = 10
ACCESS_LOG_DAYS = 365


class StorageStack(EnvironmentStack):
    """The source bucket lives apart from the environment so the bucket outlives environment rebuilds.

    DAGs never travel through CloudFormation: the pipeline syncs `dags/` before the MWAA stack deploys.
    """

    def __init__(self, scope: Construct, *, env_config: EnvironmentConfig, pipeline: PipelineConfig) -> None:
        super().__init__(
            scope,
            "storage",
            env_config=env_config,
            description=f"MWAA {env_config.environment_name}: source bucket, its access logs, the DAG sync role",
        )
        protected = env_config.protected
        removal = RemovalPolicy.RETAIN if protected else RemovalPolicy.DESTROY
        self.key = EnvironmentKey(self, "Encryption", env_config=env_config).key if env_config.kms_key else None

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_DAYS))],
            removal_policy=removal,
            auto_delete_objects=not protected,
        )
        acknowledge(
            self.access_logs,
            "S1",
            "This bucket receives the source bucket's server access logs; logging it would log itself.",
        )

        self.bucket = s3.Bucket(
            self,
            "SourceBucket",
            bucket_name=env_config.bucket_name,
            versioned=True,
            encryption=s3.BucketEncryption.KMS if self.key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key,
            bucket_key_enabled=bool(self.key),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="source-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    noncurrent_versions_to_retain=NONCURRENT_VERSIONS_KEPT,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=not protected,
        )
        DagSyncRole(
            self,
            "DagSyncRole",
            env_config=env_config,
            pipeline=pipeline,
            key_arn=self.key.key_arn if self.key else None,
        )
