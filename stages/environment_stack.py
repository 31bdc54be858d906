"""Base for the stacks of one environment: explicit name, target account, configured AZs."""

from __future__ import annotations

from aws_cdk import DefaultStackSynthesizer, Environment, Stack
from constructs import Construct

from config import EnvironmentConfig


class EnvironmentStack(Stack):
    """A stack named `<stage>-<role>` in the environment's account, with the AZs from config.

    Returning the AZs from config keeps synth free of an availability-zone lookup, which would
    need credentials for the target account. The bootstrap role ARNs are literals from config, so
    the pipeline's cross-account actions name the configured accounts plainly.
    """

    def __init__(self, scope: Construct, role: str, *, env_config: EnvironmentConfig, description: str) -> None:
        self._configured_zones = list(env_config.availability_zones)
        super().__init__(
            scope,
            role,
            stack_name=f"{env_config.stage}-{role}",
            env=Environment(account=env_config.account, region=env_config.region),
            termination_protection=env_config.protected,
            description=description,
            synthesizer=DefaultStackSynthesizer(
                deploy_role_arn=env_config.bootstrap_role_arn("deploy"),
                cloud_formation_execution_role=env_config.bootstrap_role_arn("cfn-exec"),
                lookup_role_arn=env_config.bootstrap_role_arn("lookup"),
            ),
        )

    @property
    def availability_zones(self) -> list[str]:
        return self._configured_zones
