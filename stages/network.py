"""Network stack: the VPC MWAA runs in and the environment's security group."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations, aws_ec2 as ec2, aws_logs as logs
from constructs import Construct

from config import EnvironmentConfig
from stages.environment_stack import EnvironmentStack

FLOW_LOG_RETENTION = logs.RetentionDays.ONE_YEAR


class NetworkStack(EnvironmentStack):
    """Two private subnets with egress (MWAA takes exactly two), NAT in public subnets, flow logs."""

    def __init__(self, scope: Construct, *, env_config: EnvironmentConfig) -> None:
        super().__init__(
            scope,
            "network",
            env_config=env_config,
            description=f"MWAA {env_config.environment_name}: VPC, subnets, flow logs, security group",
        )
        removal = RemovalPolicy.RETAIN if env_config.protected else RemovalPolicy.DESTROY
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(env_config.vpc_cidr),
            max_azs=2,
            nat_gateways=env_config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            ],
            restrict_default_security_group=True,
        )
        Validations.of(self.vpc).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="The two AZs are chosen in config, so synth needs no lookup and subnets never move.",
            )
        )
        flow_log_group = logs.LogGroup(self, "FlowLogs", retention=FLOW_LOG_RETENTION, removal_policy=removal)
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "MwaaSecurityGroup",
            vpc=self.vpc,
            description=f"MWAA {env_config.environment_name}: components reach each other, nothing else in",
            allow_all_outbound=True,
        )
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_traffic(), "MWAA components talk to each other"
        )
        self.private_subnet_ids = [subnet.subnet_id for subnet in self.vpc.private_subnets]
