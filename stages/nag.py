"""cdk-nag wiring: one place that turns the AwsSolutions pack on and records acknowledgements."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

# The CDK CLI asks the app not to fail on validation errors and then reports them nowhere;
# this context wins over the CLI's, so an unacknowledged finding always fails synth.
FAIL_ON_FINDINGS = {"@aws-cdk/core:failSynthOnValidationErrors": True}


def add_security_checks(app: App) -> None:
    """Run AwsSolutions on every stack, Stages included; any unacknowledged finding fails synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (`IAM5[Resource::*]` style ids included) on `scope` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason))
