"""`python -m dagtools` as a new DAG author meets it: every command with an example, the environments
it accepts, and a credentials error that says how to give credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_config
from dagtools.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def dagtools(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagtools", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )


def test_help_lists_every_command_with_an_example() -> None:
    result = dagtools("--help")
    assert result.returncode == 0, result.stderr
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {"check", "dag-test", "airflow", "sync", "status"}
    for name in commands:
        assert f"python -m dagtools {name}" in result.stdout, name
        assert "example: python -m dagtools " + name in commands[name].format_help().replace("\n", " "), name


@pytest.mark.parametrize("command", ["check", "dag-test", "airflow", "sync", "status"])
def test_environment_shows_the_configured_choices(command: str) -> None:
    keys = ",".join(environment.stage for environment in load_config().environments)
    result = dagtools(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"--environment {{{keys}}}" in result.stdout


def no_credentials(tmp_path: Path) -> dict[str, str]:
    """This machine's environment without a way to find AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (tmp_path / "empty").write_text("")
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "empty"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "empty"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    return env


@pytest.mark.parametrize(
    ("command", "extra", "kind"),
    [
        ("sync", [], "NoCredentialsError"),
        ("sync", ["--profile", "data-team"], "ProfileNotFound"),
        ("status", [], "NoCredentialsError"),
    ],
)
def test_a_credentials_error_says_how_to_give_credentials(
    command: str, extra: list[str], kind: str, tmp_path: Path
) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "a.py").write_text("from airflow.sdk import dag\n")
    args = ["--environment", "dev", *extra]
    if command == "sync":
        args += ["--source", str(tmp_path / "dags"), "--dry-run"]
    result = dagtools(command, *args, env=no_credentials(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {kind}" in result.stderr
    assert "--profile NAME, AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.stderr
