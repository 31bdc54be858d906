"""`python -m dagtools check`: lint and parse the DAGs with the Airflow version each environment runs.

Airflow lives in its own venv per version (`.venv-airflow-<version>`), installed from the committed
pins in `dagtools/requirements/airflow-<version>.txt` (exactly what MWAA's image installs) and reused
until those pins change. The parse runs in that venv (`airflow_probe.py`), from a throwaway folder
holding a copy of the DAGs, with a scrubbed environment (no AWS credentials, a throwaway HOME) and an
overall time limit; each file is parsed in its own process. The rules are judged here.

Errors (what would break in MWAA) fail the check; warnings are printed. Rules:
  DAG001  error    the file does not import (an exception, an exit, memory exhausted)
  DAG002  warning  the file defines a DAG by its text but yields none (call the @dag function, or list
                   the file in .airflowignore)
  DAG003  error    a dag_id is defined in more than one file
  DAG004  warning  a DAG has no tags
  DAG005  warning  a DAG has no description
  DAG006  warning  a DAG's owner is unset or left at Airflow's default "airflow"
  DAG007  error    a file takes longer than the parse budget (default 2 s), or is stopped at the time limit
  DAG008  error    a file reads a Variable or a connection, or calls AWS, at parse time
  DAG009  error    Airflow 3.2+: a DAG or task argument changes at every parse (DAG version inflation)
  DAG010  error    a dag_id is defined twice in one file (the second silently replaces the first)
  AIR301, AIR302 (ruff) error: removed in Airflow 3, or moved to a provider; other AIR rules: warnings
A repository makes warnings errors in one place: `[tool.dagcheck] errors = [...]` in pyproject.toml.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagtools.check.airflow_probe import DAG_DEFINITION, DAGS as DAGS_TOKEN
from dagtools.check.airflow_venv import (
    ROOT,
    CheckSetupError,
    CheckTarget,
    RequirementsConflict,
    airflow_python,
    bytecode_cache,
    indented,
    shown,
    targets_to_check,
)
from dagtools.options import option, positive_seconds

DEFAULT_BUDGET = 2.0
ERRORS = frozenset({"DAG001", "DAG003", "DAG007", "DAG008", "DAG009", "DAG010", "AIR301", "AIR302"})
PARSE_TIME_REFUSAL = "at parse time: read it inside a task"  # the probe's error for a parse-time access
DAG_TEXT = re.compile(DAG_DEFINITION.pattern.decode(), re.IGNORECASE)  # where a file builds a DAG, in its text
# One check for --parse-budget and DAGCHECK_PARSE_BUDGET.
parse_budget = option(positive_seconds, "must be a number of seconds above 0 and below 3600")
OVERALL_TIMEOUT_FLOOR = 120.0  # seconds for Airflow's own start-up in the probe, beside each file's limit


@dataclass(frozen=True)
class Problem:
    """One finding: where (a file under the DAG folder, a line), which rule, what is wrong and how to fix it."""

    path: str
    rule: str
    message: str
    line: int = 1

    def located(self, folder: str) -> str:
        return f"{folder}/{self.path}:{self.line}: {self.rule} {self.message}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"


def error_rules(pyproject: Path = ROOT / "pyproject.toml") -> frozenset[str]:
    """The rules that fail the check: the defaults, plus what `[tool.dagcheck] errors` opts in to."""
    import tomllib

    settings = tomllib.loads(pyproject.read_text()).get("tool", {}).get("dagcheck", {}) if pyproject.is_file() else {}
    return ERRORS | frozenset(settings.get("errors", []))


def time_limit(budget: float) -> float:
    """Seconds before one file's parse is stopped: close to the budget, with room for a slow import."""
    return max(budget * 2, budget + 3)


def add_check_command(commands: Any, environment_keys: str) -> None:
    check = commands.add_parser(
        "check",
        help="check the DAGs: ruff's Airflow rules, and a parse with each environment's Airflow",
        epilog="example: python -m dagtools check --environment dev   (make dags-check checks every environment)",
    )
    check.add_argument("--source", type=Path, default=Path("dags"), help="DAG folder (default: dags)")
    check.add_argument(
        "--environment",
        action="append",
        metavar=environment_keys,
        help="check with this environment's Airflow version; repeatable (default: every environment)",
    )
    check.add_argument(
        "--index",
        type=Path,
        help="write which DAGs each file defines, per environment, to this JSON file: the DAG sync's live "
        "wait reads it (--dag-index) to know what to wait for",
    )
    check.add_argument(
        "--parse-budget",
        type=parse_budget,
        help=f"seconds a file may take to parse (default: {DEFAULT_BUDGET}, or DAGCHECK_PARSE_BUDGET)",
    )
    check.set_defaults(handler=run_check)


def evaluate(report: dict[str, Any], budget: float, source: Path | None = None) -> list[Problem]:
    """Every rule violation in a probe report, in file order, each with a line and a way to fix it."""
    problems: list[Problem] = []
    defined_in: dict[str, list[str]] = defaultdict(list)
    for file in report["files"]:
        path = file["path"]
        text = _text(source, path)
        first_dag_line = _first_line(text, DAG_TEXT)
        accessed = file["parse_time_access"]
        for error in file["import_errors"]:
            if accessed and PARSE_TIME_REFUSAL in error:
                continue  # the parse-time access below is the cause, and says where
            problems.append(
                Problem(
                    path,
                    "DAG001",
                    "does not import, and would not in MWAA either: fix the error below\n"
                    + indented(error.replace(DAGS_TOKEN, f"{_folder(source)}/")),
                    _last_frame_line(error) or 1,
                )
            )
        if file["looks_like_dag"] and not file["dags"] and not file["import_errors"] and not file["timed_out"]:
            problems.append(
                Problem(
                    path,
                    "DAG002",
                    "builds a DAG by its text but none was found: call the @dag function at the end of the file "
                    "(`my_dag()`); if it is a helper, not a DAG file, list it in .airflowignore",
                    first_dag_line,
                )
            )
        for access in accessed:
            how = (
                "make the call inside a task instead"
                if access["access"].startswith("an AWS API call")
                else "read it inside a task, or in a template ({{ var.value.name }}, {{ conn.name }}), instead"
            )
            problems.append(
                Problem(
                    path,
                    "DAG008",
                    f"{access['access']} at parse time, on every parse of every scheduler: {how}",
                    access.get("line") or 1,
                )
            )
        for finding in file["unstable"]:
            problems.append(
                Problem(
                    path,
                    "DAG009",
                    f"{finding['message']}: {finding['code']}; every parse makes a new DAG version: use a value "
                    "that is the same at every parse (a fixed pendulum.datetime(2026, 1, 1) as start_date, "
                    "not datetime.now(); no random values)",
                    int(finding["line"]),
                )
            )
        ids = [dag["dag_id"] for dag in file["dags"]]
        for dag_id in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(
                Problem(
                    path,
                    "DAG010",
                    f"dag_id {dag_id!r} is defined {ids.count(dag_id)} times in this file, and Airflow keeps only "
                    "one of them: give each DAG its own dag_id",
                    _line_of_dag(text, dag_id),
                )
            )
        for dag in {d["dag_id"]: d for d in file["dags"]}.values():
            dag_id = dag["dag_id"]
            line = _line_of_dag(text, dag_id)
            defined_in[dag_id].append(path)
            if not dag["tags"]:
                problems.append(
                    Problem(
                        path, "DAG004", f"DAG {dag_id!r} has no tags: add tags=[...] (the UI filters by them)", line
                    )
                )
            if not dag["description"].strip():
                problems.append(
                    Problem(
                        path,
                        "DAG005",
                        f"DAG {dag_id!r} has no description: add description=... (the UI shows it)",
                        line,
                    )
                )
            owners = [o for o in dag["owners"] if o]
            if not owners or "airflow" in owners:
                problems.append(
                    Problem(
                        path,
                        "DAG006",
                        f"DAG {dag_id!r} has owner {', '.join(owners) or 'unset'}; set default_args={{'owner': "
                        "'<your team>'} so the UI says whose it is",
                        line,
                    )
                )
        if file["timed_out"]:
            problems.append(
                Problem(
                    path,
                    "DAG007",
                    f"was stopped after {file['seconds']:.1f} s (the time limit for a {budget:g} s budget); "
                    "move network calls, sleeps and heavy work out of top-level code, into tasks",
                    first_dag_line,
                )
            )
        elif file["seconds"] > budget:
            problems.append(
                Problem(
                    path,
                    "DAG007",
                    f"took {file['seconds']:.2f} s to parse, over the {budget:g} s budget; "
                    "move network calls, sleeps and heavy work out of top-level code, into tasks",
                    first_dag_line,
                )
            )
    for dag_id, paths in defined_in.items():
        if len(paths) > 1:
            for path in paths:
                others = ", ".join(p for p in paths if p != path) or path
                problems.append(
                    Problem(
                        path,
                        "DAG003",
                        f"dag_id {dag_id!r} is also defined in {others}: rename one, dag_ids are unique in an "
                        "environment (the second silently hides the first)",
                        _line_of_dag(_text(source, path), dag_id),
                    )
                )
    return problems


def _folder(source: Path | None) -> str:
    return shown(source) if source else "dags"


def _text(source: Path | None, path: str) -> str:
    """A DAG file's text, to find lines by; nothing for a zipped DAG or without the folder."""
    if source is None or not path.endswith(".py"):
        return ""
    try:
        return (source / path).read_text(errors="replace")
    except OSError:
        return ""


def _first_line(text: str, pattern: re.Pattern[str]) -> int:
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _line_of_dag(text: str, dag_id: str) -> int:
    """Where a DAG is defined: its dag_id written out, or the @dag function named after it."""
    quoted = re.escape(dag_id)
    return (
        _first_line(text, re.compile(rf"""dag_id\s*=\s*["']{quoted}["']|["']{quoted}["']|\bdef {quoted}\("""))
        if (text)
        else 1
    )


def _last_frame_line(trace: str) -> int | None:
    """The line of the DAG file where the traceback ends."""
    lines = [int(m.group(1)) for m in re.finditer(rf'File "{re.escape(DAGS_TOKEN)}[^"]+", line (\d+)', trace)]
    return lines[-1] if lines else None


def dag_index(source: Path, reports: list[tuple[CheckTarget, dict[str, Any]]]) -> dict[str, Any]:
    """Per environment: each file Airflow parses, its SHA-256 and the DAG ids it defines, and the files it
    never parses (.airflowignore). Files that do not import have no DAG ids: the live wait then sees
    their import error."""
    index: dict[str, Any] = {"version": 1, "environments": {}}
    for target, report in reports:
        files = {
            file["path"]: {
                "sha256": hashlib.sha256((source / file["path"]).read_bytes()).hexdigest(),
                "dag_ids": sorted({dag["dag_id"] for dag in file["dags"]}),
                "imports": not (file["import_errors"] or file["timed_out"]),
            }
            for file in report["files"]
        }
        for stage in target.stages:
            index["environments"][stage] = {"files": files, "ignored": report.get("ignored", [])}
    return index


def ruff_findings(source: Path) -> list[Problem]:
    """ruff's Airflow rules (AIR...) on the DAG folder: removals and moves in Airflow 3, and style; with
    ruff's own fix for each where it has one."""
    beside = Path(sys.executable).with_name("ruff")
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if not ruff:
        raise CheckSetupError("ruff is not installed: install dagtools/requirements/tools.txt first")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--select", "AIR", "--output-format", "json", "--exit-zero", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CheckSetupError(f"ruff failed:\n{result.stderr}")
    problems = []
    for item in json.loads(result.stdout):
        fix = (item.get("fix") or {}).get("message")
        message = item["message"].rstrip(".") + (f": {fix[0].lower()}{fix[1:]}" if fix else "")
        problems.append(
            Problem(
                Path(item["filename"]).resolve().relative_to(source.resolve()).as_posix(),
                item["code"],
                message,
                int(item["location"]["row"]),
            )
        )
    return problems


def scrubbed_environment(python: Path, work: Path) -> dict[str, str]:
    """What DAG code sees while it is parsed: no credentials, no profile, a throwaway HOME and TMPDIR."""
    (work / "home").mkdir()
    (work / "tmp").mkdir()
    return {
        "PATH": os.pathsep.join([str(python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPYCACHEPREFIX": str(bytecode_cache(python)),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def probe(python: Path, source: Path, budget: float, plugins: Path | None = None) -> dict[str, Any]:
    """Parse a copy of the DAG folder from a throwaway folder, removed afterwards with all Airflow left there.

    The project's own packages are not importable (a DAG's helper named `config` is the DAG folder's,
    as in MWAA) and nothing the DAG code writes lands in the repository.
    """
    limit = time_limit(budget)
    with tempfile.TemporaryDirectory(prefix="dagcheck-") as scratch:
        work = Path(scratch)
        dags = work / "dags"
        shutil.copytree(source, dags, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        arguments = [str(python), "airflow_probe.py", str(dags), str(work / "report.json"), str(limit)]
        if plugins:
            shutil.copytree(plugins, work / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
            arguments.append(str(work / "plugins"))
        shutil.copy(Path(__file__).with_name("airflow_probe.py"), work / "airflow_probe.py")
        files = sum(1 for p in dags.rglob("*") if p.suffix in (".py", ".zip"))
        overall = OVERALL_TIMEOUT_FLOOR + files * (limit + 1)
        process = subprocess.Popen(
            arguments,
            cwd=work,
            env=scrubbed_environment(python, work),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=overall)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise CheckSetupError(f"the DAG parse did not finish within {overall:.0f} s and was stopped") from None
        finally:
            shutil.rmtree(bytecode_cache(python) / work.relative_to(work.anchor), ignore_errors=True)
        output = work / "report.json"
        if process.returncode != 0 or not output.exists():
            raise CheckSetupError(f"the Airflow parser itself failed:\n{stderr[-4000:]}")
        report: dict[str, Any] = json.loads(output.read_text())
        return report


def print_report(target: CheckTarget, report: dict[str, Any], problems: list[Problem], errors: frozenset[str]) -> None:
    """One Airflow version's parse: what it ran with, each file's parse time, its verdict (the findings
    themselves are printed once for all versions, by `print_findings`)."""
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
    failed = sum(p.rule in errors for p in problems)
    warned = len(problems) - failed
    verdict = f"{failed} error(s)" if failed else "OK"
    print(f"{len(report['files'])} file(s), {dags} DAG(s): {verdict}" + (f", {warned} warning(s)" if warned else ""))
    print()


def print_findings(
    folder: str, found: list[tuple[Problem, list[str]]], errors: frozenset[str], every_version: list[str]
) -> None:
    """Each finding once, errors first, with the Airflow versions it applies to when not all of them."""
    ordered = sorted(found, key=lambda pair: (pair[0].rule not in errors, pair[0].path, pair[0].line, pair[0].rule))
    for problem, versions in ordered:
        which = "" if not versions or versions == every_version else f" (Airflow {' and '.join(versions)})"
        print(f"{'FAIL' if problem.rule in errors else 'WARN'} {problem.located(folder)}{which}")


def print_verdict(what: str, folder: str, problems: list[Problem], errors: frozenset[str]) -> None:
    failed = [p for p in problems if p.rule in errors]
    print_findings(folder, [(p, []) for p in problems], errors, [])
    warned = len(problems) - len(failed)
    verdict = f"{len(failed)} error(s)" if failed else "OK"
    print(f"{what}: {verdict}" + (f", {warned} warning(s)" if warned else "") + "\n")


def merge_versions(per_version: list[tuple[str, list[Problem]]]) -> list[tuple[Problem, list[str]]]:
    """The same finding in several Airflow versions, once, with the versions it was found in."""
    merged: dict[Problem, list[str]] = {}
    for version, problems in per_version:
        for problem in problems:
            versions = merged.setdefault(problem, [])
            if version not in versions:
                versions.append(version)
    return [(problem, sorted(versions)) for problem, versions in merged.items()]


def run_check(args: argparse.Namespace) -> int:
    from config import ConfigError, UnknownEnvironmentError

    if not args.source.is_dir():
        print(f"error: DAG folder {args.source} does not exist", file=sys.stderr)
        return 2
    if args.parse_budget is None:
        from_environment = os.environ.get("DAGCHECK_PARSE_BUDGET", str(DEFAULT_BUDGET))
        try:
            args.parse_budget = parse_budget(from_environment)
        except argparse.ArgumentTypeError as error:
            print(f"error: DAGCHECK_PARSE_BUDGET = {error}", file=sys.stderr)
            return 2
    errors = error_rules()
    folder = shown(args.source.resolve())
    try:
        lint = ruff_findings(args.source)
        print(f"ruff (Airflow rules) on {folder}/")
        print_verdict("ruff", folder, lint, errors)
        failed = any(p.rule in errors for p in lint)
        ready: list[tuple[CheckTarget, Path]] = []
        targets = targets_to_check(args.environment)
        # The venvs install side by side: mostly downloads on a cold cache, hard links on a warm one.
        with ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
            installs = [pool.submit(airflow_python, target) for target in targets]
        for target, install in zip(targets, installs, strict=True):
            try:
                ready.append((target, install.result()))
            except RequirementsConflict as conflict:
                print(f"FAIL {conflict}\n")
                failed = True
        # Each Airflow version and requirements set parses once, all of them side by side.
        with ThreadPoolExecutor(max_workers=max(len(ready), 1)) as pool:
            reports = list(
                pool.map(lambda pair: probe(pair[1], args.source, args.parse_budget, pair[0].plugins), ready)
            )
        per_version = []
        for (target, _), report in zip(ready, reports, strict=True):
            problems = evaluate(report, args.parse_budget, args.source)
            print_report(target, report, problems, errors)
            per_version.append((str(report["airflow"]), problems))
        found = merge_versions(per_version)
        if found:
            print("Findings of the parse:")
            print_findings(folder, found, errors, sorted({version for version, _ in per_version}))
            print()
        failed = failed or any(problem.rule in errors for problem, _ in found)
        if args.index:
            index = dag_index(
                args.source, [(target, report) for (target, _), report in zip(ready, reports, strict=True)]
            )
            args.index.parent.mkdir(parents=True, exist_ok=True)
            args.index.write_text(json.dumps(index, indent=1, sort_keys=True))
    except (CheckSetupError, ConfigError, UnknownEnvironmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0
