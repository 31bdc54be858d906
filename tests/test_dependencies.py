"""Every Python dependency comes from uv.lock, with hashes: a stale lock or export fails here, not in a
pipeline build that would install something else than what was tested."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKED = ("pyproject.toml", "uv.lock", "requirements.txt", "dagtools/requirements/tools.txt", "scripts/lock.sh")


def check_lock(root: Path) -> subprocess.CompletedProcess[str]:
    """scripts/lock.sh --check, offline: a lock that matches needs no registry."""
    env = {**os.environ, "UV_OFFLINE": "1"}
    return subprocess.run(["scripts/lock.sh", "--check"], cwd=root, capture_output=True, text=True, env=env)


def test_the_lock_and_its_exports_are_current_and_installed() -> None:
    result = check_lock(ROOT)
    assert result.returncode == 0, result.stderr
    synced = subprocess.run([ROOT / ".venv/bin/uv", "sync", "--frozen", "--check"], cwd=ROOT, capture_output=True)
    assert synced.returncode == 0, synced.stderr.decode()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in LOCKED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def test_a_changed_pin_without_a_new_lock_is_refused(copy: Path) -> None:
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"cdk-nag==3.0.2"', '"cdk-nag==3.0.1"'))
    result = check_lock(copy)
    assert result.returncode == 1
    assert "uv.lock does not match pyproject.toml: run make lock" in result.stderr


def test_an_edited_export_is_refused(copy: Path) -> None:
    tools = copy / "dagtools/requirements/tools.txt"
    tools.write_text(tools.read_text().replace("boto3==1.44.8", "boto3==1.44.7"))
    result = check_lock(copy)
    assert (result.returncode, result.stderr) == (
        1,
        "dagtools/requirements/tools.txt is not what uv.lock exports: run make lock\n",
    )
