"""Build the whole app: one Stage per environment, the pipeline stack that delivers them, cdk-nag on all."""

from __future__ import annotations

from aws_cdk import App

from config import ProjectConfig
from pipeline.delivery_stack import DeliveryPipelineStack
from pipeline.versions import pinned_versions
from stages import MwaaStage, add_security_checks


def build_app(app: App, project: ProjectConfig) -> DeliveryPipelineStack:
    stages = [MwaaStage(app, env_config=env, pipeline=project.pipeline) for env in project.environments]
    pipeline_stack = DeliveryPipelineStack(app, project=project, stages=stages, versions=pinned_versions())
    add_security_checks(app)
    return pipeline_stack
