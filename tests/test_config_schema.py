"""The config's JSON schema: generated from the models, current, and what an editor's TOML server (taplo)
checks the files with; and the tools' standard-library reader agrees with the checked load."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from config import load_config, read_config
from scripts import config_docs
from tests.conftest import ROOT
from tests.scale import write_many_environments

EXAMPLES = [ROOT / "config" / "environments.toml", *sorted((ROOT / "config" / "examples").glob("*.toml"))]
TAPLO = ROOT / "node_modules" / ".bin" / "taplo"


def taplo(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TAPLO, "lint", "--no-auto-config", *map(str, files)], capture_output=True, text=True, check=False
    )


def test_the_schema_and_the_config_reference_are_generated_from_the_current_models() -> None:
    assert (ROOT / "config" / "environments.schema.json").read_text() == config_docs.render_schema()
    assert (ROOT / "docs" / "config-reference.md").read_text() == config_docs.render_reference()


def test_every_example_names_the_schema_and_passes_it() -> None:
    for example in EXAMPLES:
        assert example.read_text().startswith("#:schema "), f"{example} does not name the schema for editors"
    result = taplo(*EXAMPLES)
    assert result.returncode == 0, result.stderr


BROKEN = {
    # what is changed in the example -> what taplo says, on that line
    ('account = "111111111111"', 'account = "1111"'): '"1111" does not match',
    ('environment_class = "mw1.small"', 'environment_class = "mw1.huge"'): '"mw1.huge" is not one of',
    ("min_workers = 1", "min_workers = 0"): "0 is less than the minimum of 1",
    ("min_workers = 1", "min_worker = 1"): "'min_worker' was unexpected",
}


def test_an_editor_flags_a_bad_pattern_an_unknown_value_a_low_number_and_an_unknown_key(tmp_path: Path) -> None:
    example = (
        EXAMPLES[0].read_text().replace("./environments.schema.json", str(ROOT / "config" / "environments.schema.json"))
    )
    files = {}
    for index, ((before, after), message) in enumerate(BROKEN.items()):
        assert before in example
        broken = tmp_path / f"broken-{index}.toml"
        broken.write_text(example.replace(before, after, 1))
        files[broken] = (message, example[: example.index(before)].count("\n") + 1)
    result = taplo(*files)
    assert result.returncode != 0
    for broken, (message, line) in files.items():
        reported = re.findall(rf"error: (.*)\n\s+┌─ {re.escape(str(broken))}:(\d+):\d+", result.stderr)
        assert line in {int(at) for text, at in reported if message in text}, (broken.name, line, reported)


@pytest.mark.parametrize("config", [*EXAMPLES, "ten"], ids=lambda c: getattr(c, "name", c))
def test_the_tools_reader_reads_a_config_as_the_checked_load_does(config: Path | str, tmp_path: Path) -> None:
    path = write_many_environments(10, tmp_path, per_wave=5) if config == "ten" else config
    assert read_config(path) == load_config(path)


def test_the_tools_reader_gives_one_line_for_a_file_it_cannot_read(tmp_path: Path) -> None:
    from config import ConfigError

    broken = tmp_path / "environments.toml"
    broken.write_text(EXAMPLES[0].read_text().replace("[pipeline]", "[pipelines]", 1))
    with pytest.raises(ConfigError) as raised:
        read_config(broken)
    [problem] = raised.value.problems
    assert problem.startswith("cannot be read (KeyError: 'pipeline')") and "`make synth` lists every problem" in problem
