"""MWAA stack: the environment, its execution role, its files, log retention, monitoring and web access."""

from __future__ import annotations

from aws_cdk import CfnOutput, aws_logs as logs, aws_mwaa as mwaa
from constructs import Construct

from config import DAGS_PREFIX, EnvironmentConfig, PipelineConfig
from stages.dag_reader import DagReader
from stages.environment_stack import EnvironmentStack
from stages.execution_role import ExecutionRole
from stages.log_retention import MwaaLogRetention
from stages.monitoring import EnvironmentMonitoring
from stages.mwaa_files import MwaaFiles
from stages.network import NetworkStack
from stages.status_reader_role import StatusReaderRole
from stages.storage import StorageStack
from stages.web_access import WebAccess


class MwaaStack(EnvironmentStack):
    """The environment; every field comes from config, Airflow options merged over our defaults."""

    def __init__(
        self,
        scope: Construct,
        *,
        env_config: EnvironmentConfig,
        pipeline: PipelineConfig,
        network: NetworkStack,
        storage: StorageStack,
    ) -> None:
        super().__init__(
            scope,
            "mwaa",
            env_config=env_config,
            description=f"MWAA {env_config.environment_name}: environment and execution role",
        )
        key_arn = storage.key.key_arn if storage.key else None
        execution_role = ExecutionRole(self, "ExecutionRole", env_config=env_config, key_arn=key_arn)
        self.execution_role = execution_role.role
        StatusReaderRole(
            self,
            "StatusReader",
            env_config=env_config,
            pipeline=pipeline,
            environment_arn=execution_role.environment_arn,
        )

        levels = env_config.log_levels
        files = MwaaFiles(self, "Files", folder=env_config.files_dir, bucket=storage.bucket, encryption_key=storage.key)

        def log_config(log_type: str) -> mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty:
            return mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(enabled=True, log_level=levels[log_type])

        self.airflow_environment = mwaa.CfnEnvironment(
            self,
            "Environment",
            name=env_config.environment_name,
            airflow_version=env_config.airflow_version,
            environment_class=env_config.environment_class,
            execution_role_arn=self.execution_role.role_arn,
            source_bucket_arn=storage.bucket.bucket_arn,
            kms_key=key_arn,
            dag_s3_path=DAGS_PREFIX.rstrip("/"),
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                security_group_ids=[network.security_group.security_group_id],
                subnet_ids=network.private_subnet_ids,
            ),
            webserver_access_mode=env_config.webserver_access_mode,
            min_workers=env_config.min_workers,
            max_workers=env_config.max_workers,
            schedulers=env_config.schedulers,
            min_webservers=env_config.min_webservers,
            max_webservers=env_config.max_webservers,
            weekly_maintenance_window_start=env_config.weekly_maintenance_window_start,
            worker_replacement_strategy=env_config.worker_replacement_strategy,
            endpoint_management=env_config.endpoint_management,
            requirements_s3_path=files.requirements.key if files.requirements else None,
            requirements_s3_object_version=files.requirements.version if files.requirements else None,
            plugins_s3_path=files.plugins.key if files.plugins else None,
            plugins_s3_object_version=files.plugins.version if files.plugins else None,
            startup_script_s3_path=files.startup_script.key if files.startup_script else None,
            startup_script_s3_object_version=files.startup_script.version if files.startup_script else None,
            airflow_configuration_options=dict(env_config.airflow_configuration_options),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                dag_processing_logs=log_config("dag_processing"),
                scheduler_logs=log_config("scheduler"),
                task_logs=log_config("task"),
                webserver_logs=log_config("webserver"),
                worker_logs=log_config("worker"),
            ),
        )

        if env_config.web_access:
            WebAccess(self, "WebAccess", env_config=env_config)
        if env_config.private_web_server:
            DagReader(
                self,
                "DagReader",
                env_config=env_config,
                vpc=network.vpc,
                subnets=network.private_subnets,
                security_group=network.security_group,
                key=storage.key,
            )
        retention = MwaaLogRetention(self, "LogRetention", env_config=env_config)
        retention.node.add_dependency(self.airflow_environment)
        if storage.key:
            # CDK's custom-resource function (log retention, MWAA files) logs with the environment's key too.
            provider_logs = retention.provider.log_group.node.default_child
            assert isinstance(provider_logs, logs.CfnLogGroup)
            provider_logs.kms_key_id = key_arn
        if env_config.alarm_topic:
            EnvironmentMonitoring(self, "Monitoring", env_config=env_config, topic_name=env_config.alarm_topic)

        CfnOutput(self, "EnvironmentName", value=env_config.environment_name)
        CfnOutput(self, "BucketName", value=env_config.bucket_name)
        CfnOutput(self, "WebserverUrl", value=self.airflow_environment.attr_webserver_url)
        if env_config.endpoint_management == "CUSTOMER":
            # With CUSTOMER management (a shared VPC) the VPC owner creates these two endpoints;
            # the environment waits in PENDING until they exist.
            CfnOutput(
                self,
                "WebserverEndpointService",
                value=self.airflow_environment.attr_webserver_vpc_endpoint_service,
            )
            CfnOutput(
                self, "DatabaseEndpointService", value=self.airflow_environment.attr_database_vpc_endpoint_service
            )
