"""The Airflow venvs the DAG tools parse and run DAGs with: one per Airflow version (and environment
requirements), installed with uv from the committed pins in `dagtools/requirements/airflow-<version>.txt`
(exactly what MWAA's image installs) and reused until those pins change. The check, the local runs and
the tests' Airflow emulation all take their interpreter from here."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dagtools.progress import on_terminal

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "dagtools" / "requirements"


class CheckSetupError(Exception):
    """The check could not run (no Python 3.12, pins missing, install failed): not a DAG problem."""


@dataclass(frozen=True)
class CheckTarget:
    """One Airflow version and one environment requirements file (or none): one venv to parse with."""

    version: str
    requirements: Path | None
    plugins: Path | None
    stages: tuple[str, ...]


def targets_to_check(environments: list[str] | None) -> list[CheckTarget]:
    """What to parse with, from config (one source of truth): each Airflow version, with each
    environment's requirements.txt (mwaa/<env>/) installed against its pins and its plugins on the path."""
    from config import read_config

    project = read_config(os.environ.get("MWAA_CONFIG"))
    selected = [project.environment(e) for e in environments] if environments else list(project.environments)
    groups: dict[tuple[str, bytes, str], list[str]] = defaultdict(list)
    found: dict[tuple[str, bytes, str], tuple[Path | None, Path | None]] = {}
    for env in selected:
        requirements = env.files_dir / "requirements.txt"
        plugins = env.files_dir / "plugins"
        present = (requirements if requirements.is_file() else None, plugins if plugins.is_dir() else None)
        key = (env.airflow_version, present[0].read_bytes() if present[0] else b"", str(present[1] or ""))
        groups[key].append(env.stage)
        found.setdefault(key, present)
    return [CheckTarget(key[0], *found[key], tuple(stages)) for key, stages in groups.items()]


def shown(path: Path) -> str:
    """A path as a user finds it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class RequirementsConflict(Exception):
    """An environment's requirements.txt does not install against the Airflow pins (MWAA would fail too)."""


def find_mwaa_python() -> str:
    """An interpreter of the Python MWAA runs: DAGCHECK_PYTHON, this one (CodeBuild's is 3.12),
    python3.12 on PATH, or a pyenv 3.12."""
    candidates = [os.environ.get("DAGCHECK_PYTHON"), sys.executable, "python3.12"]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")), reverse=True)
    for candidate in filter(None, candidates):
        try:
            result = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            continue
        if result.stdout.strip() == "True":
            return candidate
    raise CheckSetupError(
        "Python 3.12 (the Python MWAA runs) was not found: install it, or point DAGCHECK_PYTHON at one"
    )


def _uv_executable() -> str:
    """uv from the tools (dagtools/requirements/tools.txt), beside this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("uv")
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if not uv:
        raise CheckSetupError("uv is not installed: install dagtools/requirements/tools.txt first")
    return uv


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_uv_executable(), *args], capture_output=True, text=True, check=False)


def _install(python: Path, *args: str) -> tuple[bool, str]:
    """Whether the install worked, and uv's report. On a terminal uv draws its own progress there (the
    report then is above, not returned); elsewhere it is quiet and its report is kept for the error."""
    command = ["pip", "install", "--python", str(python), *args]
    if not on_terminal():
        result = _uv(*command, "--quiet")
        return result.returncode == 0, (result.stderr or result.stdout)[-3000:]
    shown_live = subprocess.run([_uv_executable(), *command], stdout=sys.stderr, check=False)
    return shown_live.returncode == 0, "(uv's report is above)"


def airflow_python(target: CheckTarget) -> Path:
    """The interpreter of the target's venv: the pins for its version and its requirements against them,
    in one uv install (files come hard-linked from uv's cache, so a second venv of a version is cheap).

    Reinstalled only when the pins or the requirements change (a stamp holds their hash).
    """
    pins = REQUIREMENTS / f"airflow-{target.version}.txt"
    if not pins.is_file():
        raise CheckSetupError(f"no pinned requirements for Airflow {target.version}: expected {pins.relative_to(ROOT)}")
    extra = target.requirements.read_bytes() if target.requirements else b""
    digest = hashlib.sha256(pins.read_bytes() + b"\0" + extra).hexdigest()
    root = Path(os.environ.get("DAGCHECK_VENV_ROOT", ROOT))
    base = root / f".venv-airflow-{target.version}"
    venv = base if not extra else root / f".venv-airflow-{target.version}-{digest[:12]}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"

    def installed() -> bool:
        return stamp.is_file() and stamp.read_text() == digest and python.exists()

    if installed():
        return python
    with _one_install_at_a_time(venv):
        if not installed():  # or another process installed it while this one waited
            _install_venv(target, venv, pins)
            stamp.write_text(digest)
    return python


@contextlib.contextmanager
def _one_install_at_a_time(venv: Path) -> Iterator[None]:
    """An exclusive lock beside the venv: two processes (parallel test workers, a check and a dag-test
    in two terminals) must not install the same venv at once."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(venv.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _install_venv(target: CheckTarget, venv: Path, pins: Path) -> None:
    python = venv / "bin" / "python"
    print(
        f"Installing Airflow {target.version} into {venv.name} (once per version and requirements; seconds) ...",
        file=sys.stderr,
    )
    created = _uv("venv", "--quiet", "--clear", "--python", find_mwaa_python(), str(venv))
    if created.returncode != 0:
        raise CheckSetupError(f"creating {venv.name} failed:\n{created.stderr}")
    if target.requirements is None:
        worked, report = _install(python, "-r", str(pins))
        if not worked:
            raise CheckSetupError(f"installing {pins.name} failed:\n{report}")
    else:
        worked, report = _install(python, "-r", str(pins), "-r", str(target.requirements), "-c", str(pins))
        if not worked:
            shutil.rmtree(venv, ignore_errors=True)
            raise RequirementsConflict(
                f"{shown(target.requirements)} does not install against the pins of Airflow "
                f"{target.version} ({pins.relative_to(ROOT)}); MWAA would fail the same way:\n" + indented(report)
            )


def bytecode_cache(python: Path) -> Path:
    """Where the parse keeps compiled modules: in the venv, so Airflow is compiled once per venv, not per
    check (a third of a warm check's time); the DAG copies' share is removed after each parse."""
    return python.parents[1] / ".pycache"


def indented(text: str) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines())
