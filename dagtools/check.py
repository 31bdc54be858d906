"""`python -m dagtools check`: parse the DAGs with the Airflow version each environment runs.

Airflow lives in its own venv per version (`.venv-airflow-<version>`), installed from the committed
pins in `dagtools/requirements/airflow-<version>.txt` (resolved for Python 3.12, which MWAA runs)
and reused until those pins change. The parse itself runs in that venv (`airflow_probe.py`); the
rules are judged here, so they are plain Python and the same for every Airflow version.

Rules (each failure names the file and the rule):
  DAG001  the file does not import (any exception at parse time)
  DAG002  the file looks like a DAG file (mentions "airflow" and "dag") but defines no DAG
  DAG003  a dag_id is defined in more than one file
  DAG004  a DAG has no tags
  DAG005  a DAG has no description (the `description=` shown in the DAG list)
  DAG006  a DAG's owner is unset or left at Airflow's default "airflow"
  DAG007  a file takes longer than the parse budget (default 2 s): top-level code that calls the
          network, sleeps or computes runs on every parse, on every scheduler
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagtools.options import option, positive_seconds

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "dagtools" / "requirements"
MWAA_PYTHON = (3, 12)
DEFAULT_BUDGET = 2.0


class CheckSetupError(Exception):
    """The check could not run (no Python 3.12, pins missing, install failed): not a DAG problem."""


@dataclass(frozen=True)
class Problem:
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule} {self.message}"


def add_check_command(commands: Any) -> None:

    check = commands.add_parser("check", help="parse the DAGs with the environments' Airflow versions")
    check.add_argument("--source", type=Path, default=Path("dags"), help="DAG folder (default: dags)")
    check.add_argument(
        "--environment", action="append", help="check for this environment's Airflow version (default: all)"
    )
    check.add_argument(
        "--parse-budget",
        type=option(positive_seconds, "must be a number of seconds above 0 and below 3600"),
        help=f"seconds a file may take to parse (default: {DEFAULT_BUDGET}, or DAGCHECK_PARSE_BUDGET)",
    )
    check.set_defaults(handler=run_check)


def evaluate(report: dict[str, Any], budget: float) -> list[Problem]:
    """Every rule violation in a probe report, in file order."""
    problems: list[Problem] = []
    defined_in: dict[str, list[str]] = defaultdict(list)
    for file in report["files"]:
        path = file["path"]
        for error in file["import_errors"]:
            problems.append(Problem(path, "DAG001", f"import error:\n{_indent(error)}"))
        if file["looks_like_dag"] and not file["dags"] and not file["import_errors"]:
            problems.append(Problem(path, "DAG002", "looks like a DAG file but defines no DAG (was the DAG called?)"))
        for dag in file["dags"]:
            dag_id = dag["dag_id"]
            defined_in[dag_id].append(path)
            if not dag["tags"]:
                problems.append(Problem(path, "DAG004", f"DAG {dag_id!r} has no tags"))
            if not dag["description"].strip():
                problems.append(Problem(path, "DAG005", f"DAG {dag_id!r} has no description"))
            owners = [o for o in dag["owners"] if o]
            if not owners or "airflow" in owners:
                problems.append(
                    Problem(
                        path,
                        "DAG006",
                        f"DAG {dag_id!r} has owner {', '.join(owners) or 'unset'}; set default_args owner to a team",
                    )
                )
        if file["seconds"] > budget:
            problems.append(
                Problem(
                    path,
                    "DAG007",
                    f"took {file['seconds']:.2f} s to parse, over the {budget:g} s budget; "
                    "move network calls, sleeps and heavy work out of top-level code",
                )
            )
    for dag_id, paths in defined_in.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p for p in paths if p != path) or path
                problems.append(Problem(path, "DAG003", f"dag_id {dag_id!r} is also defined in {others}"))
    return problems


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines())


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


@dataclass(frozen=True)
class CheckTarget:
    """One Airflow version and one environment requirements file (or none): one venv to parse with."""

    version: str
    requirements: Path | None
    plugins: Path | None
    stages: tuple[str, ...]


def shown(path: Path) -> str:
    """A path as a user finds it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class RequirementsConflict(Exception):
    """An environment's requirements.txt does not install against the Airflow pins (MWAA would fail too)."""


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    """uv from the tools (dagtools/requirements/tools.txt), beside this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("uv")
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if not uv:
        raise CheckSetupError("uv is not installed: install dagtools/requirements/tools.txt first")
    return subprocess.run([uv, *args], capture_output=True, text=True, check=False)


def _install(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _uv("pip", "install", "--quiet", "--python", str(python), *args)


def airflow_python(target: CheckTarget) -> Path:
    """The interpreter of the target's venv: the pins for its version, then its requirements against them.

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
    if stamp.is_file() and stamp.read_text() == digest and python.exists():
        return python
    if venv == base:
        print(
            f"Installing Airflow {target.version} into {venv.name} (once per version; seconds with uv) ...",
            file=sys.stderr,
        )
        created = _uv("venv", "--quiet", "--clear", "--python", find_mwaa_python(), str(venv))
        if created.returncode != 0:
            raise CheckSetupError(f"creating {venv.name} failed:\n{created.stderr}")
        install = _install(python, "-r", str(pins))
        if install.returncode != 0:
            raise CheckSetupError(f"installing {pins.name} failed:\n{install.stdout}{install.stderr}")
    else:
        # Start from the plain venv of this version instead of installing Airflow again.
        base_python = airflow_python(CheckTarget(target.version, None, None, target.stages))
        shutil.rmtree(venv, ignore_errors=True)
        shutil.copytree(base_python.parents[1], venv, symlinks=True)
        assert target.requirements is not None
        install = _install(python, "-r", str(target.requirements), "-c", str(pins))
        if install.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RequirementsConflict(
                f"{shown(target.requirements)} does not install against the pins of Airflow "
                f"{target.version} ({pins.relative_to(ROOT)}); MWAA would fail the same way:\n"
                + _indent((install.stderr or install.stdout)[-3000:])
            )
    stamp.write_text(digest)
    return python


def probe(python: Path, source: Path, plugins: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dagcheck-") as scratch:
        output = Path(scratch) / "report.json"
        result = subprocess.run(
            [str(python), "-m", "dagtools.airflow_probe", str(source.resolve()), str(output)]
            + ([str(plugins.resolve())] if plugins else []),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not output.exists():
            raise CheckSetupError(f"the Airflow parser itself failed:\n{result.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(output.read_text())
        return report


def targets_to_check(environments: list[str] | None) -> list[CheckTarget]:
    """What to parse with, from config (one source of truth): each Airflow version, with each
    environment's requirements.txt (mwaa/<env>/) installed against its pins and its plugins on the path."""
    from config import load_config

    project = load_config(os.environ.get("MWAA_CONFIG"))
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


def print_report(target: CheckTarget, report: dict[str, Any], problems: list[Problem]) -> None:
    python = report["python"]
    note = "" if python.startswith("3.12.") else " -- MWAA runs Python 3.12"
    print(
        f"Airflow {report['airflow']} (Amazon provider {report['amazon_provider']}) on Python {python}{note}, "
        f"for {', '.join(target.stages)}"
    )
    if target.requirements:
        print(f"with {shown(target.requirements)} installed against the pins")
    if target.plugins:
        print(f"with {shown(target.plugins)} on the path, as MWAA puts plugins.zip")
    print("Parse time per file, slowest first:")
    for file in sorted(report["files"], key=lambda f: f["seconds"], reverse=True):
        print(f"  {file['seconds']:7.3f} s  {file['path']}")
    dags = sum(len(f["dags"]) for f in report["files"])
    for problem in problems:
        print(f"FAIL {problem}")
    verdict = "OK" if not problems else f"{len(problems)} problem(s)"
    print(f"{len(report['files'])} file(s), {dags} DAG(s): {verdict}\n")


def run_check(args: argparse.Namespace) -> int:
    from config import ConfigError, UnknownEnvironmentError

    if not args.source.is_dir():
        print(f"error: DAG folder {args.source} does not exist", file=sys.stderr)
        return 2
    if args.parse_budget is None:
        from_environment = os.environ.get("DAGCHECK_PARSE_BUDGET", str(DEFAULT_BUDGET))
        try:
            args.parse_budget = option(positive_seconds, "must be seconds above 0 and below 3600")(from_environment)
        except argparse.ArgumentTypeError as error:
            print(f"error: DAGCHECK_PARSE_BUDGET = {error}", file=sys.stderr)
            return 2
    try:
        failed = False
        for target in targets_to_check(args.environment):
            try:
                python = airflow_python(target)
            except RequirementsConflict as conflict:
                print(f"FAIL {conflict}\n")
                failed = True
                continue
            report = probe(python, args.source, target.plugins)
            problems = evaluate(report, args.parse_budget)
            print_report(target, report, problems)
            failed = failed or bool(problems)
    except (CheckSetupError, ConfigError, UnknownEnvironmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0
