"""The tools run in CodeBuild with boto3 alone: every module of dagtools, deploytools, aws_clients and
config (but the checked load) imports in a venv made by scripts/install-tools.sh (what the pipelines
install), and none of them pulls in the CDK, the app's stacks or pydantic."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

TOOL_PACKAGES = ("dagtools", "deploytools", "aws_clients", "config")
FORBIDDEN = ("aws_cdk", "constructs", "jsii", "stages", "pipeline", "pydantic")
# Run by the Airflow venv's Python, never imported by the tools themselves.
RUN_INSIDE_AIRFLOW = ("dagtools.check.airflow_probe", "dagtools.local.airflow_dag_test")
# The checked load (pydantic), for the app's synth; the tools read config with config.reader.
CHECKED_LOAD = ("config.loader", "config.schema")


def tools_venv() -> Path:
    """The pipelines' tools venv, made again only when its requirements or the script change."""
    venv = ROOT / ".venv-tools-test"
    inputs = [ROOT / "dagtools/requirements/tools.txt", ROOT / "scripts/install-tools.sh"]
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    if (venv / ".made-for").is_file() and (venv / ".made-for").read_text() == stamp:
        return venv
    for made in (venv, venv.with_name(venv.name + ".uv")):  # the script expects a clean build, as CodeBuild's
        shutil.rmtree(made, ignore_errors=True)
    subprocess.run(["scripts/install-tools.sh", str(venv)], cwd=ROOT, check=True, capture_output=True)
    (venv / ".made-for").write_text(stamp)
    return venv


def test_every_tool_module_imports_with_boto3_alone() -> None:
    code = f"""
import importlib, json, pkgutil, sys
names = []
for package in {TOOL_PACKAGES!r}:
    names.append(package)
    module = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
for name in names:
    if name not in {RUN_INSIDE_AIRFLOW + CHECKED_LOAD!r} and not name.endswith(".__main__"):
        importlib.import_module(name)
import dagtools.cli
dagtools.cli.build_parser()
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(json.dumps({{"imported": names, "forbidden": forbidden}}))
"""
    python = tools_venv() / "bin" / "python"
    result = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"dagtools.sync.engine", "dagtools.live.wait", "deploytools.replacement_guard"} <= set(report["imported"])
    assert report["forbidden"] == []


def test_a_sync_by_environment_key_runs_in_the_tools_venv(
    s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the DAG pipeline runs it: config gives the bucket, its owner and region; the upload is real."""
    from config import DEFAULT_CONFIG_PATH

    config = tmp_path / "environments.toml"
    text = DEFAULT_CONFIG_PATH.read_text().replace('account = "111111111111"', 'account = "123456789012"', 1)
    config.write_text(
        text.replace('environment_name = "mwaa-dev"', f'environment_name = "mwaa-dev"\nbucket_name = "{bucket}"', 1)
    )
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "a.py").write_text("from airflow.sdk import dag\n")
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    python = tools_venv() / "bin" / "python"
    result = subprocess.run(
        [python, "-m", "dagtools", "sync", "--environment", "dev", "--source", str(tmp_path / "dags"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == ["a.py"]
    assert s3.get_object(Bucket=bucket, Key="dags/a.py")["Body"].read() == b"from airflow.sdk import dag\n"
