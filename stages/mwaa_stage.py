"""One environment as a Stage: network, storage and MWAA stacks, deployed together."""

from __future__ import annotations

from aws_cdk import Environment, PermissionsBoundary, Stage, Tags
from constructs import Construct

from config import EnvironmentConfig, PipelineConfig
from stages.mwaa import MwaaStack
from stages.network import NetworkStack
from stages.storage import StorageStack


class MwaaStage(Stage):
    """The unit the pipeline deploys per environment; its ID is the environment's key in config."""

    def __init__(self, scope: Construct, *, env_config: EnvironmentConfig, pipeline: PipelineConfig) -> None:
        super().__init__(
            scope,
            env_config.stage,
            env=Environment(account=env_config.account, region=env_config.region),
            # Every role these stacks create carries the boundary the account was bootstrapped with,
            # so no role can grant more than the boundary allows (see bootstrap/).
            permissions_boundary=PermissionsBoundary.from_name(pipeline.permissions_boundary_name),
        )
        self.env_config = env_config
        self.storage = StorageStack(self, env_config=env_config, pipeline=pipeline)
        self.network = NetworkStack(self, env_config=env_config, key=self.storage.key)
        self.mwaa = MwaaStack(
            self, env_config=env_config, pipeline=pipeline, network=self.network, storage=self.storage
        )
        for key, value in env_config.tags.items():
            Tags.of(self).add(key, value)
