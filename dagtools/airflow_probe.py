"""Runs inside the Airflow check venv: parses each DAG file with DagBag and writes what it found as JSON.

Standard library and Airflow only; `python -m dagtools check` runs it and judges the result.
Usage: python -m dagtools.airflow_probe SOURCE_DIR OUTPUT_JSON [PLUGINS_DIR]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _isolate_airflow(source: Path, plugins: Path | None) -> None:
    """A throwaway AIRFLOW_HOME and no examples: the check never touches a real installation."""
    home = tempfile.mkdtemp(prefix="dagcheck-airflow-home-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(source),
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="120",
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
    )
    if plugins:
        # MWAA unpacks plugins.zip onto the path of every scheduler and worker; DAGs may import from it.
        os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
        sys.path.insert(0, str(plugins))


def _dagbag_class() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models import DagBag  # Airflow 3.0 and 3.1
    return DagBag


def _warm_up(dagbag_class: Any) -> None:
    """Import Airflow and the providers and build a throwaway DAG once, so the first file's parse time is its own."""
    import pendulum
    from airflow.sdk import DAG, task

    with DAG("dagcheck_warm_up", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
        task(lambda: None, task_id="noop")()
    dagbag_class(dag_folder=tempfile.mkdtemp(prefix="dagcheck-empty-"), safe_mode=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the providers' own deprecation notices are not the author's problem
        _import_providers()


def _import_providers() -> None:
    for module in (
        "airflow.providers.amazon.aws.hooks.s3",
        "airflow.providers.amazon.aws.sensors.s3",
        "airflow.providers.amazon.aws.operators.s3",
    ):
        with contextlib.suppress(ImportError):  # a provider version may lack one of them
            __import__(module)


def _dag_files(source: Path) -> list[Path]:
    """The .py files Airflow would consider, honouring .airflowignore."""
    from airflow.utils.file import find_path_from_directory

    ignore_file = ".airflowignore"
    found = find_path_from_directory(str(source), ignore_file)
    return sorted(Path(p) for p in found if p.endswith(".py"))


def _looks_like_dag(path: Path) -> bool:
    """Airflow's own heuristic (safe mode): a DAG file mentions both 'airflow' and 'dag'."""
    content = path.read_bytes().lower()
    return b"airflow" in content and b"dag" in content


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


def probe(source: Path, plugins: Path | None = None) -> dict[str, Any]:
    _isolate_airflow(source, plugins)
    logging.disable(logging.WARNING)
    import airflow

    dagbag_class = _dagbag_class()
    _warm_up(dagbag_class)
    files = []
    for path in _dag_files(source):
        started = time.perf_counter()
        bag = dagbag_class(dag_folder=str(path), safe_mode=True)
        seconds = time.perf_counter() - started
        errors = [str(message) for message in bag.import_errors.values()]
        files.append(
            {
                "path": path.relative_to(source).as_posix(),
                "seconds": seconds,
                "looks_like_dag": _looks_like_dag(path),
                "import_errors": errors,
                "dags": [_describe(dag) for dag in bag.dags.values()],
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
        "files": files,
    }


def main() -> int:
    source, output = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    plugins = Path(sys.argv[3]).resolve() if len(sys.argv) > 3 else None
    output.write_text(json.dumps(probe(source, plugins)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
