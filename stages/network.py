"""Network stack: the VPC MWAA runs in (new, or an existing one), its security group, VPC endpoints."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations, aws_ec2 as ec2, aws_kms as kms, aws_logs as logs
from constructs import Construct

from config import EnvironmentConfig
from stages.encryption import flow_log_group_name
from stages.environment_stack import EnvironmentStack

FLOW_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# What MWAA reaches without internet access (shared/docs/mwaa-facts.md); S3 is a gateway endpoint.
INTERFACE_ENDPOINTS = (
    "logs",
    "monitoring",
    "sqs",
    "kms",
    "ecr.api",
    "ecr.dkr",
    "airflow.api",
    "airflow.env",
    "airflow.ops",
)


class NetworkStack(EnvironmentStack):
    """Two private subnets (MWAA takes exactly two), the environment's security group and, if asked, endpoints.

    A new VPC has NAT in public subnets, or, with `nat_gateways = 0`, isolated subnets that reach
    AWS through the endpoints alone. An existing VPC is referenced by ID with no lookup at synth.
    """

    def __init__(self, scope: Construct, *, env_config: EnvironmentConfig, key: kms.IKey | None) -> None:
        super().__init__(
            scope,
            "network",
            env_config=env_config,
            description=f"MWAA {env_config.environment_name}: network, security group, endpoints",
        )
        if env_config.vpc_id:
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=env_config.vpc_id,
                availability_zones=list(env_config.availability_zones),
                private_subnet_ids=list(env_config.private_subnet_ids),
                private_subnet_route_table_ids=list(env_config.private_route_table_ids) or None,
            )
            subnets = self.vpc.private_subnets
        else:
            self.vpc = self._new_vpc(env_config, key)
            subnets = self.vpc.private_subnets if env_config.nat_gateways else self.vpc.isolated_subnets

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
        self.private_subnets = list(subnets)
        self.private_subnet_ids = [subnet.subnet_id for subnet in subnets]
        if env_config.endpoints:
            self._add_endpoints(ec2.SubnetSelection(subnets=subnets), INTERFACE_ENDPOINTS)
        elif env_config.private_web_server and env_config.endpoint_management == "SERVICE":
            # The DAG reader calls InvokeRestApi from inside the VPC, through MWAA's env endpoint (with
            # CUSTOMER management the VPC's owner provides the endpoints).
            self._add_endpoints(ec2.SubnetSelection(subnets=subnets), ("airflow.env",))

    def _new_vpc(self, env_config: EnvironmentConfig, key: kms.IKey | None) -> ec2.Vpc:
        private = ec2.SubnetType.PRIVATE_WITH_EGRESS if env_config.nat_gateways else ec2.SubnetType.PRIVATE_ISOLATED
        subnet_groups = [ec2.SubnetConfiguration(name="private", subnet_type=private)]
        if env_config.nat_gateways:
            subnet_groups.insert(0, ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC))
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(str(env_config.vpc_cidr)),
            max_azs=2,
            nat_gateways=env_config.nat_gateways,
            subnet_configuration=subnet_groups,
            restrict_default_security_group=True,
        )
        Validations.of(vpc).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W3010",
                reason="The two AZs are chosen in config, so synth needs no lookup and subnets never move.",
            )
        )
        removal = RemovalPolicy.RETAIN if env_config.protected else RemovalPolicy.DESTROY
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=flow_log_group_name(env_config),
            encryption_key=key,
            retention=FLOW_LOG_RETENTION,
            removal_policy=removal,
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        return vpc

    def _add_endpoints(self, subnets: ec2.SubnetSelection, services: tuple[str, ...]) -> None:
        """Interface endpoints with private DNS, reachable on 443 from the MWAA security group only; with
        all of them, S3's gateway endpoint too."""
        endpoint_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="VPC interface endpoints: HTTPS from the MWAA security group only",
            allow_all_outbound=False,
        )
        endpoint_group.add_ingress_rule(self.security_group, ec2.Port.tcp(443), "MWAA reaches AWS services")
        for service in services:
            self.vpc.add_interface_endpoint(
                f"Endpoint-{service}",
                service=ec2.InterfaceVpcEndpointAwsService(service),
                private_dns_enabled=True,
                subnets=subnets,
                security_groups=[endpoint_group],
                open=False,
            )
        if services == INTERFACE_ENDPOINTS:
            self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[subnets])
