"""The CDK constructs of one MWAA environment."""

from stages.mwaa_stage import MwaaStage
from stages.nag import FAIL_ON_FINDINGS, add_security_checks

__all__ = ["FAIL_ON_FINDINGS", "MwaaStage", "add_security_checks"]
