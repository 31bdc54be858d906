"""requirements.txt, plugins and startup.sh: reproducible zips, object versions, changes confined to their uploader."""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH, parse_config
from stages import MwaaStage, add_security_checks
from stages.mwaa_files import reproducible_zip
from tests.conftest import ROOT, new_app, repository_scratch, stacks_of

PROD_FILES = ROOT / "mwaa" / "prod"


def test_plugins_zip_is_the_same_bytes_for_the_same_content(tmp_path: Path) -> None:
    source = tmp_path / "plugins"
    shutil.copytree(PROD_FILES / "plugins", source)
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "team_macros.cpython-312.pyc").write_bytes(b"\0")
    first = reproducible_zip(source, tmp_path / "one.zip").read_bytes()
    later = time.time() + 86400
    for path in source.rglob("*"):
        os.utime(path, (later, later))
    assert reproducible_zip(source, tmp_path / "two.zip").read_bytes() == first
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["team_macros.py"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (source / "team_macros.py").write_text("# changed\n")
    assert reproducible_zip(source, tmp_path / "three.zip").read_bytes() != first


def synth_dev_mwaa(files_dir: Path, outdir: Path) -> dict[str, Any]:
    """Only the dev Stage, with its files taken from `files_dir`."""
    data = copy.deepcopy(tomllib.loads(DEFAULT_CONFIG_PATH.read_text()))
    data["environments"]["dev"]["files_dir"] = str(files_dir.relative_to(ROOT))
    project = parse_config(data)
    app = new_app(outdir)
    stage = MwaaStage(app, env_config=project.environment("dev"), pipeline=project.pipeline)
    add_security_checks(app)
    template: dict[str, Any] = stacks_of(app.synth())[stage.mwaa.stack_name].template
    return template


def changed_resources(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    names = set(before["Resources"]) | set(after["Resources"])
    return {n for n in names if before["Resources"].get(n) != after["Resources"].get(n)}


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The dev MWAA template for the same files twice, then with each file changed in turn."""
    root = tmp_path_factory.mktemp("files")
    scratch = repository_scratch()
    files = scratch / "mwaa-dev"
    shutil.copytree(PROD_FILES, files)
    result = {
        "first": synth_dev_mwaa(files, root / "out1"),
        "again": synth_dev_mwaa(files, root / "out2"),
    }
    (files / "requirements.txt").write_text((files / "requirements.txt").read_text() + "pendulum\n")
    result["requirements"] = synth_dev_mwaa(files, root / "out3")
    (files / "plugins" / "team_macros.py").write_text((files / "plugins" / "team_macros.py").read_text() + "\n# x\n")
    result["plugins"] = synth_dev_mwaa(files, root / "out4")
    yield result
    shutil.rmtree(scratch)


def test_files_are_referenced_by_object_version(versions: dict[str, dict[str, Any]]) -> None:
    template = versions["first"]
    [environment] = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::MWAA::Environment"]
    for prefix, key in (
        ("Requirements", "requirements.txt"),
        ("Plugins", "plugins.zip"),
        ("StartupScript", "startup.sh"),
    ):
        assert environment[f"{prefix}S3Path"] == key
        [uploader] = environment[f"{prefix}S3ObjectVersion"]["Fn::GetAtt"][:1]
        assert uploader.startswith(f"Files{prefix}Upload")
        assert environment[f"{prefix}S3ObjectVersion"]["Fn::GetAtt"][1] == "VersionId"
        assert template["Resources"][uploader]["Type"] == "Custom::AWS"
        create = json.dumps(template["Resources"][uploader]["Properties"]["Create"])
        assert '\\"action\\":\\"copyObject\\"' in create


def test_unchanged_files_give_an_identical_template(versions: dict[str, dict[str, Any]]) -> None:
    assert versions["again"] == versions["first"]


@pytest.mark.parametrize(
    ("change", "uploader"), [("requirements", "FilesRequirementsUpload"), ("plugins", "FilesPluginsUpload")]
)
def test_a_changed_file_changes_only_its_uploader(
    versions: dict[str, dict[str, Any]], change: str, uploader: str
) -> None:
    before = versions["first"] if change == "requirements" else versions["requirements"]
    changed = changed_resources(before, versions[change])
    # The uploader is the custom resource and its policy (which names the asset object it reads).
    assert changed and all(name.startswith(uploader) for name in changed), changed
    assert len(changed) == 2
    assert {k: v for k, v in before.items() if k != "Resources"} == {
        k: v for k, v in versions[change].items() if k != "Resources"
    }


def test_without_files_the_environment_references_none(templates: dict[str, dict[str, Any]]) -> None:
    [environment] = [
        r["Properties"] for r in templates["dev-mwaa"]["Resources"].values() if r["Type"] == "AWS::MWAA::Environment"
    ]
    assert not {k for k in environment if k.startswith(("Requirements", "Plugins", "StartupScript"))}
    assert not [r for r in templates["dev-mwaa"]["Resources"].values() if "copyObject" in str(r.get("Properties"))]


def test_the_dag_sync_cannot_touch_them(templates: dict[str, dict[str, Any]]) -> None:
    roles = [r["Properties"] for r in templates["prod-storage"]["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    [sync] = [r for r in roles if r.get("RoleName") == "mwaa-prod-dag-sync"]
    for statement in sync["Policies"][0]["PolicyDocument"]["Statement"]:
        if statement["Action"] not in (
            "s3:ListBucket",
            "airflow:InvokeRestApi",
            "lambda:InvokeFunction",
        ) and "kms" not in str(statement["Action"]):
            assert statement["Resource"].endswith("/dags/*")
