"""The pinned CDK CLI, run as a user runs it: `make synth` must print no warning at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.cli


def test_cli_synth_prints_no_warnings(tmp_path: Path) -> None:
    """Also: templates of an earlier synth (another config) are gone, not counted."""
    stale = tmp_path / "cdk.out" / "assembly-gone"
    stale.mkdir(parents=True)
    (stale / "gone-mwaa.template.json").write_text("{}")
    (tmp_path / "cdk.out" / "manifest.json").write_text("{}")
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules/.bin'}:{ROOT / '.venv/bin'}:/usr/bin:/bin"}
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
