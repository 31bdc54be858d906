"""The pinned CDK CLI, run as a user runs it: `make synth` must print no warning at all."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.cli


def test_cli_synth_prints_no_warnings(tmp_path: Path) -> None:
    """Also: templates of an earlier synth (another config) are gone, not counted; and a CDK CLI
    notice (cached, as the CLI keeps them between runs) neither shows nor fails the build."""
    stale = tmp_path / "cdk.out" / "assembly-gone"
    stale.mkdir(parents=True)
    (stale / "gone-mwaa.template.json").write_text("{}")
    (tmp_path / "cdk.out" / "manifest.json").write_text("{}")
    cdk_home = tmp_path / "cdk-home"
    (cdk_home / "cache").mkdir(parents=True)
    notice = {
        "title": "A CLI notice that mentions a warning",
        "issueNumber": 99999,
        "overview": "This notice warns about nothing in particular.",
        "components": [{"name": "cli", "version": "<3.0.0"}],
        "schemaVersion": "1",
    }
    expiration = int((time.time() + 3600) * 1000)
    (cdk_home / "cache" / "notices.json").write_text(json.dumps({"expiration": expiration, "notices": [notice]}))
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'node_modules/.bin'}:{ROOT / '.venv/bin'}:/usr/bin:/bin",
        "CDK_HOME": str(cdk_home),
    }
    result = subprocess.run(
        ["scripts/synth.sh", "--output", str(tmp_path / "cdk.out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (
        f"Synthesized 7 templates into {tmp_path / 'cdk.out'}/ with no warnings.\n",
        "",
    )
    out = tmp_path / "cdk.out"
    assert (out / "mwaa-platform-pipeline.template.json").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("assembly-")) == ["assembly-dev", "assembly-prod"]
