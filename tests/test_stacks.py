"""What each stack of each environment creates, read from the synthesized templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api

from config import ProjectConfig

Template = dict[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def the_resource(template: Template, resource_type: str) -> dict[str, Any]:
    found = list(resources(template, resource_type).values())
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def test_each_environment_has_three_stacks_in_its_account(
    stacks: dict[str, cx_api.CloudFormationStackArtifact], example_config: ProjectConfig
) -> None:
    expected = {f"{e.stage}-{role}" for e in example_config.environments for role in ("network", "storage", "mwaa")}
    assert set(stacks) == expected | {"mwaa-platform-pipeline"}
    for env in example_config.environments:
        for role in ("network", "storage", "mwaa"):
            stack = stacks[f"{env.stage}-{role}"]
            assert (stack.environment.account, stack.environment.region) == (env.account, env.region)
            assert stack.termination_protection == env.protected


def test_synth_needed_no_lookups(assembly: cx_api.CloudAssembly) -> None:
    """In-process synth fills missing context with dummies silently; the CLI would need credentials."""
    manifests = list(Path(assembly.directory).rglob("manifest.json"))
    assert len(manifests) == 3  # the app's and one per Stage
    for manifest in manifests:
        assert "missing" not in json.loads(manifest.read_text()), manifest


def test_mwaa_stack_deploys_after_network_and_storage(stacks: dict[str, cx_api.CloudFormationStackArtifact]) -> None:
    for stage in ("dev", "prod"):
        depends = {d.id for d in stacks[f"{stage}-mwaa"].dependencies}
        assert depends >= {stacks[f"{stage}-network"].id, stacks[f"{stage}-storage"].id}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_vpc_spans_the_two_configured_zones(
    stage: str, templates: dict[str, Template], example_config: ProjectConfig
) -> None:
    env = example_config.environment(stage)
    network = templates[f"{stage}-network"]
    assert the_resource(network, "AWS::EC2::VPC")["Properties"]["CidrBlock"] == env.vpc_cidr
    subnets = resources(network, "AWS::EC2::Subnet").values()
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert sorted(s["Properties"]["AvailabilityZone"] for s in private) == sorted(env.availability_zones)
    assert len(resources(network, "AWS::EC2::NatGateway")) == env.nat_gateways
    flow_log = the_resource(network, "AWS::EC2::FlowLog")["Properties"]
    assert (flow_log["ResourceType"], flow_log["TrafficType"]) == ("VPC", "ALL")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_security_group_admits_only_itself(stage: str, templates: dict[str, Template]) -> None:
    network = templates[f"{stage}-network"]
    groups = {
        k: v
        for k, v in resources(network, "AWS::EC2::SecurityGroup").items()
        if v["Properties"]["GroupDescription"].startswith("MWAA ")
    }
    [(group_id, group)] = groups.items()
    assert "SecurityGroupIngress" not in group["Properties"]
    into_mwaa = [
        rule["Properties"]
        for rule in resources(network, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert [rule["SourceSecurityGroupId"] for rule in into_mwaa] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    for template in templates.values():
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
            assert "CidrIp" not in rule["Properties"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_source_bucket_is_versioned_private_encrypted_and_logged(
    stage: str, templates: dict[str, Template], example_config: ProjectConfig
) -> None:
    storage = templates[f"{stage}-storage"]
    buckets = resources(storage, "AWS::S3::Bucket")
    [(bucket_id, bucket)] = [(k, v) for k, v in buckets.items() if "BucketName" in v["Properties"]]
    props = bucket["Properties"]
    assert props["BucketName"] == example_config.environment(stage).bucket_name
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    if example_config.environment(stage).kms_key:
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["EncryptionKey3A692D6E", "Arn"]},
        }
        assert rule["BucketKeyEnabled"] is True
    else:
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "source-bucket/"
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(storage, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    [statements] = policies
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [
            {"Fn::GetAtt": [bucket_id, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
        ],
    } in statements


def test_prod_keeps_its_bucket_and_dev_cleans_up(templates: dict[str, Template]) -> None:
    for stage, policy, auto_deletes in (("prod", "Retain", 0), ("dev", "Delete", 2)):
        storage = templates[f"{stage}-storage"]
        for bucket in resources(storage, "AWS::S3::Bucket").values():
            assert bucket["DeletionPolicy"] == policy
        assert len(resources(storage, "Custom::S3AutoDeleteObjects")) == auto_deletes


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_environment_takes_every_field_from_config(
    stage: str, templates: dict[str, Template], example_config: ProjectConfig
) -> None:
    env = example_config.environment(stage)
    props = the_resource(templates[f"{stage}-mwaa"], "AWS::MWAA::Environment")["Properties"]
    assert props["Name"] == env.environment_name
    assert props["AirflowVersion"] == env.airflow_version
    assert props["EnvironmentClass"] == env.environment_class
    assert (props["MinWorkers"], props["MaxWorkers"]) == (env.min_workers, env.max_workers)
    assert props["Schedulers"] == env.schedulers
    assert (props["MinWebservers"], props["MaxWebservers"]) == (env.min_webservers, env.max_webservers)
    assert props["WebserverAccessMode"] == env.webserver_access_mode
    assert props["WeeklyMaintenanceWindowStart"] == env.weekly_maintenance_window_start
    assert props["DagS3Path"] == "dags"
    assert props["AirflowConfigurationOptions"] == {
        "core.default_task_retries": {"dev": "1", "prod": "2"}[stage],
        "dag_processor.refresh_interval": "20",  # our default: new DAG files found within 20 s, not 300 s
        **(
            {
                "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
                "secrets.backend_kwargs": '{"connections_prefix": "airflow/connections", '
                '"variables_prefix": "airflow/variables"}',
            }
            if stage == "prod"
            else {}
        ),
    }
    logging = props["LoggingConfiguration"]
    assert logging == {
        "DagProcessingLogs": {"Enabled": True, "LogLevel": "INFO"},
        "SchedulerLogs": {"Enabled": True, "LogLevel": "INFO"},
        "TaskLogs": {"Enabled": True, "LogLevel": "INFO"},
        "WebserverLogs": {"Enabled": True, "LogLevel": "INFO"},
        "WorkerLogs": {"Enabled": True, "LogLevel": "WARNING"},
    }
    assert len(props["NetworkConfiguration"]["SubnetIds"]) == 2
    assert props["Tags"] == dict(env.tags)


def test_stacks_hand_over_values_without_exports(templates: dict[str, Template]) -> None:
    """Weak references: a producer stack stays free to change what it outputs."""
    for template in templates.values():
        for output in template.get("Outputs", {}).values():
            assert "Export" not in output
    network_ref = the_resource(templates["dev-mwaa"], "AWS::MWAA::Environment")["Properties"]["NetworkConfiguration"]
    assert network_ref["SubnetIds"][0]["Fn::GetStackOutput"]["StackName"] == "dev-network"


def test_mwaa_outputs(templates: dict[str, Template], example_config: ProjectConfig) -> None:
    outputs = templates["prod-mwaa"]["Outputs"]
    assert outputs["EnvironmentName"]["Value"] == "mwaa-prod"
    assert outputs["BucketName"]["Value"] == example_config.environment("prod").bucket_name
    assert outputs["WebserverUrl"]["Value"] == {"Fn::GetAtt": ["Environment", "WebserverUrl"]}


def execution_role(templates: dict[str, Template], stage: str) -> dict[str, Any]:
    roles = resources(templates[f"{stage}-mwaa"], "AWS::IAM::Role")
    [role] = [r for r in roles.values() if r["Properties"].get("RoleName") == f"mwaa-{stage}-execution"]
    return role["Properties"]


def test_execution_role_trusts_mwaa_for_this_environment_only(templates: dict[str, Template]) -> None:
    trust = execution_role(templates, "dev")["AssumeRolePolicyDocument"]["Statement"]
    conditions = {
        "StringEquals": {"aws:SourceAccount": "111111111111"},
        "ArnLike": {"aws:SourceArn": "arn:aws:airflow:eu-west-1:111111111111:environment/mwaa-dev"},
    }
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": conditions,
            "Effect": "Allow",
            "Principal": {"Service": ["airflow-env.amazonaws.com", "airflow.amazonaws.com"]},
        }
    ]


def test_execution_role_statements_one_by_one(templates: dict[str, Template]) -> None:
    [policy] = execution_role(templates, "dev")["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    bucket = "arn:aws:s3:::mwaa-dev-111111111111-eu-west-1"
    objects = "arn:aws:s3:::mwaa-dev-111111111111-eu-west-1/*"
    assert statements == {
        "PublishMetrics": {
            "Sid": "PublishMetrics",
            "Effect": "Allow",
            "Action": "airflow:PublishMetrics",
            "Resource": "arn:aws:airflow:eu-west-1:111111111111:environment/mwaa-dev",
        },
        "DenyListAllBuckets": {
            "Sid": "DenyListAllBuckets",
            "Effect": "Deny",
            "Action": "s3:ListAllMyBuckets",
            "Resource": [bucket, objects],
        },
        "ReadSourceBucket": {
            "Sid": "ReadSourceBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucket*", "s3:GetObject*", "s3:List*"],
            "Resource": [bucket, objects],
        },
        "WriteOwnLogs": {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:GetLogEvents",
                "logs:GetLogGroupFields",
                "logs:GetLogRecord",
                "logs:GetQueryResults",
                "logs:PutLogEvents",
            ],
            "Resource": "arn:aws:logs:eu-west-1:111111111111:log-group:airflow-mwaa-dev-*",
        },
        "DescribeLogGroups": {
            "Sid": "DescribeLogGroups",
            "Effect": "Allow",
            "Action": "logs:DescribeLogGroups",
            "Resource": "*",
        },
        "CheckAccountPublicAccessBlock": {
            "Sid": "CheckAccountPublicAccessBlock",
            "Effect": "Allow",
            "Action": "s3:GetAccountPublicAccessBlock",
            "Resource": "*",
        },
        "PutMetrics": {"Sid": "PutMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
        "CeleryQueues": {
            "Sid": "CeleryQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
            "Resource": "arn:aws:sqs:eu-west-1:*:airflow-celery-*",
        },
        "AwsOwnedKeyForSqs": {
            "Sid": "AwsOwnedKeyForSqs",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"],
            "NotResource": "arn:aws:kms:*:111111111111:key/*",
            "Condition": {"StringLike": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}},
        },
    }


def test_no_iam_statement_grants_a_service_wildcard(templates: dict[str, Template]) -> None:
    for name, template in templates.items():
        for resource in template["Resources"].values():
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(resource["Properties"]["PolicyDocument"])
            for document in documents:
                for statement in document["Statement"]:
                    actions = statement.get("Action", [])
                    for action in [actions] if isinstance(actions, str) else actions:
                        assert action != "*" and not action.endswith(":*"), f"{name}: {statement}"
                        assert action != "kms:PutKeyPolicy", f"{name}: {statement}"


def test_every_role_in_the_environments_carries_the_permissions_boundary(
    templates: dict[str, Template], example_config: ProjectConfig
) -> None:
    roles = 0
    for env in example_config.environments:
        for role_kind in ("network", "storage", "mwaa"):
            for role in resources(templates[f"{env.stage}-{role_kind}"], "AWS::IAM::Role").values():
                roles += 1
                boundary = role["Properties"]["PermissionsBoundary"]
                assert boundary == f"arn:aws:iam::{env.account}:policy/mwaa-platform-boundary"
    # Each: flow logs, default-SG restriction, DAG sync, execution, status reader, custom-resource
    # function (log retention); dev also S3 auto-delete, prod (a private web server) the DAG reader.
    assert roles == 14


def test_workers_are_replaced_gracefully(templates: dict[str, Template]) -> None:
    props = the_resource(templates["prod-mwaa"], "AWS::MWAA::Environment")["Properties"]
    assert props["WorkerReplacementStrategy"] == "GRACEFUL"


@pytest.mark.parametrize(("stage", "days"), [("dev", 30), ("prod", 731)])
def test_log_retention_is_set_on_the_groups_mwaa_creates(stage: str, days: int, templates: dict[str, Template]) -> None:
    mwaa = templates[f"{stage}-mwaa"]
    creates = [r["Properties"]["Create"] for r in resources(mwaa, "Custom::AWS").values()]
    calls = [json.loads(c) for c in creates if isinstance(c, str) and "putRetentionPolicy" in c]
    assert sorted(c["parameters"]["logGroupName"] for c in calls) == [
        f"airflow-mwaa-{stage}-{t}" for t in ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")
    ]
    for call in calls:
        assert (call["service"], call["action"], call["parameters"]["retentionInDays"]) == (
            "CloudWatchLogs",
            "putRetentionPolicy",
            days,
        )
        # A group MWAA has not created yet is skipped: failing would roll back, and delete, the new environment.
        assert call["ignoreErrorCodesMatching"] == "ResourceNotFoundException"
    updates = [
        json.loads(r["Properties"]["Update"])
        for r in resources(mwaa, "Custom::AWS").values()
        if "putRetentionPolicy" in str(r["Properties"]["Create"])
    ]
    assert [u["ignoreErrorCodesMatching"] for u in updates] == ["ResourceNotFoundException"] * 5
    owned = [g["Properties"]["LogGroupName"] for g in resources(mwaa, "AWS::Logs::LogGroup").values()]
    assert not [name for name in owned if "airflow-" in json.dumps(name)]  # MWAA owns them, not the stack
    account = {"dev": "111111111111", "prod": "222222222222"}[stage]
    statements = [
        s for p in resources(mwaa, "AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {
        "Action": "logs:PutRetentionPolicy",
        "Effect": "Allow",
        "Resource": (f"arn:aws:logs:eu-west-1:{account}:log-group:airflow-mwaa-{stage}-*"),
    } in statements


def test_alarms_go_to_the_configured_topic(templates: dict[str, Template]) -> None:
    prod = templates["prod-mwaa"]
    [(topic_id, topic)] = resources(prod, "AWS::SNS::Topic").items()
    assert topic["Properties"]["TopicName"] == "mwaa-prod-alarms"
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"] for a in resources(prod, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {"SchedulerHeartbeat", "QueuedTasks", "ImportErrors"}
    heartbeat = alarms["SchedulerHeartbeat"]
    assert (heartbeat["Namespace"], heartbeat["Statistic"], heartbeat["Period"]) == ("AmazonMWAA", "Average", 300)
    assert (heartbeat["ComparisonOperator"], heartbeat["Threshold"]) == ("LessThanOrEqualToThreshold", 0)
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["Dimensions"] == [
        {"Name": "Environment", "Value": "mwaa-prod"},
        {"Name": "Function", "Value": "Scheduler"},
    ]
    assert alarms["QueuedTasks"]["Threshold"] == 50
    assert alarms["ImportErrors"]["Dimensions"][1] == {"Name": "Function", "Value": "DAG Processing"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert len(resources(prod, "AWS::CloudWatch::Dashboard")) == 1


def test_every_log_group_the_stacks_create_uses_the_environment_key(templates: dict[str, Template]) -> None:
    """With a customer-managed key (prod): the VPC flow logs, CDK's custom-resource function and the DAG reader
    log with it, under names the key policy lets CloudWatch Logs use it for."""
    groups = {
        stack: resources(templates[f"prod-{stack}"], "AWS::Logs::LogGroup") for stack in ("network", "storage", "mwaa")
    }
    assert sum(len(found) for found in groups.values()) == 3
    [flow] = groups["network"].values()
    assert flow["Properties"]["LogGroupName"] == "/mwaa/mwaa-prod/vpc-flow-logs"
    assert flow["Properties"]["KmsKeyId"]["Fn::GetStackOutput"]["StackName"] == "prod-storage"
    [reader] = [
        g for g in groups["mwaa"].values() if g["Properties"]["LogGroupName"] == "/aws/lambda/mwaa-prod-dag-reader"
    ]
    [provider] = [g for g in groups["mwaa"].values() if g is not reader]
    assert provider["Properties"]["LogGroupName"]["Fn::Join"][1][0] == "/aws/lambda/"  # the function is prod-mwaa-...
    environment_key = the_resource(templates["prod-mwaa"], "AWS::MWAA::Environment")["Properties"]["KmsKey"]
    assert provider["Properties"]["KmsKeyId"] == environment_key
    assert reader["Properties"]["KmsKeyId"] == environment_key
    assert "KmsKeyId" not in json.dumps(resources(templates["dev-network"], "AWS::Logs::LogGroup"))  # no key in dev


def test_no_alarms_without_a_topic(templates: dict[str, Template]) -> None:
    dev = templates["dev-mwaa"]
    assert not resources(dev, "AWS::CloudWatch::Alarm")
    assert not resources(dev, "AWS::SNS::Topic")


def test_the_environment_key_encrypts_bucket_environment_and_logs(templates: dict[str, Template]) -> None:
    storage, mwaa = templates["prod-storage"], templates["prod-mwaa"]
    [(key_id, key)] = resources(storage, "AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    [logs] = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchLogsForThisEnvironment"
    ]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    prefix = "arn:aws:logs:eu-west-1:222222222222:log-group:"
    allowed = [
        f"{prefix}airflow-mwaa-prod-*",
        f"{prefix}/mwaa/mwaa-prod/*",
        f"{prefix}/aws/lambda/prod-mwaa-*",
        f"{prefix}/aws/lambda/mwaa-prod-dag-reader",
    ]
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": allowed}}
    assert "kms:PutKeyPolicy" not in json.dumps(logs)
    environment = the_resource(mwaa, "AWS::MWAA::Environment")["Properties"]
    assert environment["KmsKey"]["Fn::GetStackOutput"]["StackName"] == "prod-storage"
    [policy] = execution_role(templates, "prod")["Policies"]
    [statement] = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "EnvironmentKey"]
    assert statement["Resource"] == environment["KmsKey"]
    assert statement["Condition"] == {
        "StringLike": {"kms:ViaService": ["sqs.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"]}
    }
    assert "AwsOwnedKeyForSqs" not in json.dumps(policy)
    assert key_id == "EncryptionKey3A692D6E"


def test_without_a_key_the_environment_uses_the_aws_owned_one(templates: dict[str, Template]) -> None:
    assert not resources(templates["dev-storage"], "AWS::KMS::Key")
    assert "KmsKey" not in the_resource(templates["dev-mwaa"], "AWS::MWAA::Environment")["Properties"]


def test_endpoints_let_a_private_environment_reach_aws(templates: dict[str, Template]) -> None:
    network = templates["prod-network"]
    endpoints = [e["Properties"] for e in resources(network, "AWS::EC2::VPCEndpoint").values()]
    services = sorted(json.dumps(e["ServiceName"]) for e in endpoints)
    expected = ["logs", "monitoring", "sqs", "kms", "ecr.api", "ecr.dkr", "airflow.api", "airflow.env", "airflow.ops"]
    assert sorted(f'"com.amazonaws.eu-west-1.{name}"' for name in expected) == sorted(
        s for s in services if "s3" not in s
    )
    interface = [e for e in endpoints if e.get("VpcEndpointType") == "Interface"]
    assert len(interface) == 9
    for endpoint in interface:
        assert endpoint["PrivateDnsEnabled"] is True
        assert len(endpoint["SubnetIds"]) == 2
    [gateway] = [e for e in endpoints if e.get("VpcEndpointType") == "Gateway"]
    assert "s3" in json.dumps(gateway["ServiceName"])
    groups = resources(network, "AWS::EC2::SecurityGroup")
    [endpoint_group] = [k for k, v in groups.items() if "endpoints" in v["Properties"]["GroupDescription"]]
    [mwaa_group] = [k for k, v in groups.items() if "MWAA mwaa-prod" in v["Properties"]["GroupDescription"]]
    rules = [
        r["Properties"]
        for r in resources(network, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [endpoint_group, "GroupId"]}
    ]
    assert rules == [
        {
            "Description": "MWAA reaches AWS services",
            "FromPort": 443,
            "GroupId": {"Fn::GetAtt": [endpoint_group, "GroupId"]},
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": {"Fn::GetAtt": [mwaa_group, "GroupId"]},
            "ToPort": 443,
        }
    ]
    assert the_resource(templates["prod-mwaa"], "AWS::MWAA::Environment")["Properties"]["WebserverAccessMode"] == (
        "PRIVATE_ONLY"
    )
    assert not resources(templates["dev-network"], "AWS::EC2::VPCEndpoint")
