"""The pinned CDK CLI, run as a user runs it: `make synth` must print no warning at all."""

from __future__ import annotations

import pytest

from tests.conftest import CliSynth

pytestmark = pytest.mark.cli


def test_cli_synth_prints_no_warnings(cli_synth: CliSynth) -> None:
    """Also: templates of an earlier synth (another config) are gone, not counted; and a CDK CLI
    notice (cached, as the CLI keeps them between runs) neither shows nor fails the build. The other
    template tests read this very synth (tests/conftest.py)."""
    result, out = cli_synth.result, cli_synth.outdir
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == (f"Synthesized 7 templates into {out}/ with no warnings.\n", "")
    assert (out / "mwaa-platform-pipeline.template.json").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("assembly-")) == ["assembly-dev", "assembly-prod"]
