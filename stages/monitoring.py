"""Alarms on the metrics MWAA publishes, sent to the environment's alarm topic, and a small dashboard."""

from __future__ import annotations

from aws_cdk import (
    Duration,
    aws_cloudwatch as cloudwatch,
    aws_cloudwatch_actions as cloudwatch_actions,
    aws_iam as iam,
    aws_kms as kms,
    aws_sns as sns,
)
from constructs import Construct

from config import EnvironmentConfig
from stages.nag import acknowledge

NAMESPACE = "AmazonMWAA"
PERIOD = Duration.minutes(5)


class EnvironmentMonitoring(Construct):
    """Scheduler heartbeat, queued tasks and DAG import errors: the three that page someone."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, topic_name: str) -> None:
        super().__init__(scope, construct_id)
        name = env_config.environment_name

        def metric(metric_name: str, function: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=metric_name,
                dimensions_map={"Environment": name, "Function": function},
                statistic=statistic,
                period=PERIOD,
            )

        heartbeat = metric("SchedulerHeartbeat", "Scheduler", "Average")
        queued = metric("QueuedTasks", "Executor", "Maximum")
        running = metric("RunningTasks", "Executor", "Maximum")
        import_errors = metric("ImportErrors", "DAG Processing", "Maximum")
        parse_time = metric("TotalParseTime", "DAG Processing", "Maximum")

        self.alarms = [
            heartbeat.create_alarm(
                self,
                "SchedulerHeartbeat",
                alarm_name=f"{name}-scheduler-heartbeat",
                alarm_description=f"No scheduler heartbeat from {name} for 5 minutes: no task is being scheduled.",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
            queued.create_alarm(
                self,
                "QueuedTasks",
                alarm_name=f"{name}-queued-tasks",
                alarm_description=f"More than {env_config.queued_tasks_alarm_threshold} tasks queued in {name} "
                "for 15 minutes: workers are at max_workers or failing to start.",
                threshold=env_config.queued_tasks_alarm_threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            import_errors.create_alarm(
                self,
                "ImportErrors",
                alarm_name=f"{name}-dag-import-errors",
                alarm_description=f"A DAG in {name} fails to import: it is missing from the UI and does not run.",
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        key = kms.Key(self, "TopicKey", enable_key_rotation=True, description=f"Encrypts the alarm topic of {name}")
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],
            )
        )
        acknowledge(
            key,
            "IAM5[Resource::*]",
            "In a key policy, Resource * means this key only; CloudWatch needs it to publish alarms to the topic.",
        )
        self.topic = sns.Topic(self, "Topic", topic_name=topic_name, master_key=key, enforce_ssl=True)
        for alarm in self.alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
            alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))

        cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{name}-mwaa",
            widgets=[
                [
                    cloudwatch.GraphWidget(title="Scheduler heartbeat", left=[heartbeat], width=8),
                    cloudwatch.GraphWidget(title="Tasks", left=[queued, running], width=8),
                    cloudwatch.GraphWidget(title="DAG parsing", left=[import_errors], right=[parse_time], width=8),
                ],
                [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)],
            ],
        )
