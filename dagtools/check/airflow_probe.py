"""Runs inside the Airflow check venv: parses each DAG file in a process of its own and writes what it found as JSON.

Standard library and Airflow only; `python -m dagtools check` copies this file into a throwaway
folder, runs it there with a scrubbed environment and judges the result. As in Airflow 3's DAG
processor, the DAG folder is on `sys.path` and each file is parsed in its own process: forked from
this one once Airflow is imported, so a file cannot lean on another imported before it, and one that
exits, hangs or eats memory costs only its own verdict. Variables, connections and AWS calls at parse
time fail loudly and are recorded, even when the DAG swallows the error.

Usage: python airflow_probe.py SOURCE_DIR OUTPUT_JSON TIME_LIMIT_SECONDS [PLUGINS_DIR]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import resource
import select
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space one file's parse may use
DAGS = "<dags>/"  # what stands for the DAG folder in tracebacks: the check names the author's folder
FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
# A DAG file: it builds a DAG (the constructor, the decorator or a context manager), not merely mentions one.
DAG_DEFINITION = re.compile(rb"\bDAG\s*\(|@dag\b|\bdag\s*\(", re.IGNORECASE)


def _isolate_airflow(source: Path, plugins: Path | None) -> None:
    """AIRFLOW_HOME in the throwaway working folder, no examples, the DAG folder on the path."""
    home = Path.cwd() / "airflow-home"
    home.mkdir(exist_ok=True)
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(source),
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="0",  # the parent's own time limit applies instead
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
        # Airflow 3.2's check for DAGs whose definition changes at every parse: an error here.
        AIRFLOW__DAG_PROCESSOR__DAG_VERSION_INFLATION_CHECK_LEVEL="error",
    )
    sys.path.insert(0, str(source))
    if plugins:
        # MWAA unpacks plugins.zip onto the path of every scheduler and worker; DAGs may import from it.
        os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
        sys.path.insert(1, str(plugins))


def _dagbag_class() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models import DagBag  # Airflow 3.0 and 3.1
    return DagBag


def _warm_up(dagbag_class: Any) -> Any:
    """Import Airflow and the providers and build a throwaway DAG once, so each file's time is its own."""
    import pendulum
    from airflow.sdk import DAG, task

    with DAG("dagcheck_warm_up", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
        task(lambda: None, task_id="noop")()
    empty = Path.cwd() / "empty"
    empty.mkdir(exist_ok=True)
    bag = dagbag_class(dag_folder=str(empty), safe_mode=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the providers' own deprecation notices are not the author's problem
        for module in (
            "airflow.providers.amazon.aws.hooks.s3",
            "airflow.providers.amazon.aws.sensors.s3",
            "airflow.providers.amazon.aws.operators.s3",
        ):
            with contextlib.suppress(ImportError):  # a provider version may lack one of them
                __import__(module)
    return bag


def _dag_files(source: Path) -> list[Path]:
    """The files Airflow would consider: .py files and zipped DAGs, honouring .airflowignore."""
    from airflow.utils.file import find_path_from_directory

    found = find_path_from_directory(str(source), ".airflowignore")
    return sorted(Path(p) for p in found if p.endswith((".py", ".zip")))


def _looks_like_dag(path: Path) -> bool:
    """A file that defines a DAG by its text; helper modules that merely mention Airflow do not."""
    if path.suffix == ".zip":
        return True
    return bool(DAG_DEFINITION.search(path.read_bytes()))


def _describe(dag: Any) -> dict[str, Any]:
    owners = sorted({task.owner for task in dag.tasks if task.owner}) if dag.tasks else []
    if not owners:
        owner = (dag.default_args or {}).get("owner")
        owners = [owner] if owner else []
    return {
        "dag_id": dag.dag_id,
        "tags": sorted(str(tag) for tag in (dag.tags or [])),
        "description": dag.description or "",
        "owners": owners,
        "tasks": len(dag.tasks),
    }


def _forbid_parse_time_access(recorded: list[dict[str, Any]], source: Path) -> None:
    """Variables, connections and AWS calls at parse time run on every parse, on every scheduler:
    make each fail loudly, and record it (with the DAG file's line that made it) even when the DAG
    catches the error."""

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            name = next((a for a in args if isinstance(a, str)), kwargs.get("key") or kwargs.get("conn_id") or "")
            frame = sys._getframe(1)
            while frame and not frame.f_code.co_filename.startswith(str(source)):
                frame = frame.f_back  # type: ignore[assignment]
            recorded.append(
                {"access": f"{what}({name!r})" if name else what, "line": frame.f_lineno if frame else None}
            )
            raise RuntimeError(f"{what} at parse time: read it inside a task (or a template) instead")

        return call

    targets = [
        ("airflow.sdk", "Variable", "get", "Variable.get"),
        ("airflow.sdk", "Connection", "get", "Connection.get"),
        ("airflow.models.variable", "Variable", "get", "Variable.get"),
        ("airflow.models.connection", "Connection", "get_connection_from_secrets", "Connection lookup"),
        ("airflow.hooks.base", "BaseHook", "get_connection", "BaseHook.get_connection"),
        ("airflow.sdk.bases.hook", "BaseHook", "get_connection", "BaseHook.get_connection"),
        ("botocore.client", "BaseClient", "_make_api_call", "an AWS API call"),
    ]
    for module_name, class_name, attribute, what in targets:
        with contextlib.suppress(ImportError, AttributeError):
            owner = getattr(__import__(module_name, fromlist=[class_name]), class_name)
            getattr(owner, attribute)
            setattr(owner, attribute, staticmethod(refuse(what)))


def _stability_findings(path: Path) -> list[dict[str, Any]]:
    """Airflow 3.2+'s DAG version inflation check (runtime-varying values in DAG or task arguments)."""
    try:
        from airflow.utils.dag_version_inflation_checker import check_dag_file_stability
    except ImportError:
        return []  # before 3.2: no such check
    if path.suffix != ".py":
        return []
    result = check_dag_file_stability(str(path))
    return [
        {"line": finding.line, "code": finding.code, "message": finding.message}
        for _, finding in sorted(result.warnings.items())
    ]


def author_frames(trace: str, source: Path) -> str:
    """A traceback with the frames of the DAG folder only (the probe's and Airflow's left out), its
    paths relative to it; exception lines and headers stay."""
    kept: list[str] = []
    skipping = False
    for line in trace.splitlines():
        frame = FRAME.match(line)
        if frame:
            skipping = not frame["file"].startswith(str(source))
            if not skipping:
                kept.append(line.replace(f"{source}/", DAGS))
        elif skipping and line.startswith("    "):
            continue  # the source line (and ^^^ markers) of a frame left out
        else:
            skipping = False
            kept.append(line.replace(f"{source}/", DAGS))
    return "\n".join(kept)


def _parse_one(bag: Any, path: Path, source: Path) -> dict[str, Any]:
    """In the child process: parse one file, with parse-time access forbidden."""
    recorded: list[dict[str, Any]] = []
    _forbid_parse_time_access(recorded, source)
    started = time.perf_counter()
    found = bag.process_file(str(path), only_if_updated=False, safe_mode=True)  # as MWAA: dag_discovery_safe_mode
    seconds = time.perf_counter() - started
    # Airflow may return one DAG object twice (from the module's globals and from the DAGs a `with`
    # block registered): what counts is distinct objects, so two different DAGs with one id still show.
    distinct = list({id(dag): dag for dag in found}.values())
    return {
        "seconds": seconds,
        "import_errors": [author_frames(str(message), source) for message in bag.import_errors.values()],
        "dags": [_describe(dag) for dag in distinct],
        "parse_time_access": recorded,
        "unstable": _stability_findings(path),
    }


def _in_child(bag: Any, path: Path, source: Path, time_limit: float) -> dict[str, Any]:
    """Parse `path` in a forked process with a time and a memory limit; report how it ended."""
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reader)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            result = _parse_one(bag, path, source)
        except BaseException:
            trace = author_frames(traceback.format_exc(), source)
            result = {"seconds": time.perf_counter() - started, "import_errors": [trace], "dags": []}
        with os.fdopen(writer, "wb") as out:
            out.write(json.dumps(result).encode())
        os._exit(0)
    os.close(writer)
    chunks: list[bytes] = []
    deadline = started + time_limit
    timed_out = False
    with os.fdopen(reader, "rb", buffering=0) as incoming:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([incoming], [], [], remaining)
            if ready:
                chunk = incoming.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - started
    if timed_out:
        return {"seconds": seconds, "timed_out": True, "import_errors": [], "dags": []}
    if not chunks:
        how = (
            f"was killed by signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"exited with code {os.WEXITSTATUS(status)}"
        )
        message = f"parsing this file ended the parser's process: it {how} (os._exit, sys.exit or a crash at import)"
        return {"seconds": seconds, "import_errors": [message], "dags": []}
    parsed: dict[str, Any] = json.loads(b"".join(chunks))
    return parsed


def probe(source: Path, time_limit: float, plugins: Path | None = None) -> dict[str, Any]:
    _isolate_airflow(source, plugins)
    logging.disable(logging.WARNING)
    import airflow

    bag = _warm_up(_dagbag_class())
    files = []
    considered = _dag_files(source)
    parsed = set(considered)
    for path in considered:
        bag.import_errors.clear()
        result = _in_child(bag, path, source, time_limit)
        files.append(
            {
                "path": path.relative_to(source).as_posix(),
                "looks_like_dag": _looks_like_dag(path),
                "timed_out": False,
                "parse_time_access": [],
                "unstable": [],
                **result,
            }
        )
    try:
        from airflow.providers.amazon import __version__ as amazon_version
    except ImportError:
        amazon_version = None
    return {
        "python": platform.python_version(),
        "airflow": airflow.__version__,
        "amazon_provider": amazon_version,
        "time_limit": time_limit,
        "files": files,
        # What Airflow never parses (.airflowignore): the live wait after a sync does not wait for it.
        "ignored": sorted(
            p.relative_to(source).as_posix()
            for p in source.rglob("*")
            if p.suffix in (".py", ".zip") and p.is_file() and p not in parsed
        ),
    }


def main() -> int:
    source, output, time_limit = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), float(sys.argv[3])
    plugins = Path(sys.argv[4]).resolve() if len(sys.argv) > 4 else None
    output.write_text(json.dumps(probe(source, time_limit, plugins)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
