"""Security and lint gates on what was synthesized: cdk-nag AwsSolutions and cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Stack, aws_s3 as s3, cx_api

from stages import add_security_checks
from tests.conftest import ROOT, cfn_lint, new_app


def test_cdk_nag_finds_nothing_unacknowledged(assembly: cx_api.CloudAssembly) -> None:
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    [nag] = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for suppressed in nag["suppressedViolations"]:
        assert len(suppressed["reason"]) > 40, suppressed
        # Acknowledged on the construct that has the finding, never on a whole stack or stage.
        path = suppressed["violatingConstructs"][0]["constructPath"]
        assert path == suppressed["acknowledgedAt"] or path.startswith(suppressed["acknowledgedAt"] + "/"), suppressed
        assert suppressed["acknowledgedAt"].count("/") >= 2, suppressed


def test_a_finding_fails_synth_even_when_the_cli_says_not_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CDK CLI passes failSynthOnValidationErrors=false; our app must override it."""
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"@aws-cdk/core:failSynthOnValidationErrors": False}))
    app = new_app(tmp_path)
    s3.Bucket(Stack(app, "Plain"), "BucketWithoutTls")
    add_security_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_cfn_lint_is_clean_on_every_template(assembly: cx_api.CloudAssembly) -> None:
    templates = sorted(str(p) for p in Path(assembly.directory).rglob("*.template.json"))
    assert len(templates) == 7
    assert cfn_lint(*templates) == (0, "", "")


def test_cfn_lint_config_gives_a_reason_for_each_ignored_rule() -> None:
    lines = (ROOT / ".cfnlintrc.yaml").read_text().splitlines()
    ignored = [i for i, line in enumerate(lines) if line.strip().startswith("- ")]
    assert ignored
    for index in ignored:
        assert lines[index - 1].strip().startswith("#"), lines[index]
