"""Runs inside an environment's Airflow venv: one `dag.test()` run per DAG, their task states as JSON.

Standard library and Airflow only; `python -m dagtools dag-test` runs it and reports. Several DAGs run in
one process, which builds Airflow's in-process execution API once (see `_one_execution_api`). Task output
goes to stdout, between Airflow's "[DAG TEST] starting/end task" lines, after a `DAG_MARKER` line naming
its DAG.
Usage: python airflow_dag_test.py REPORT_JSON LOGICAL_DATE|- VARIABLES_FILE CONNECTIONS_FILE [DAG_ID ...]
(no DAG_ID: every DAG in the folder)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

DAG_MARKER = "[DAGTOOLS] running DAG "


def _dagbag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models import DagBag  # Airflow 3.0 and 3.1
    return DagBag()  # the DAG folder and examples come from AIRFLOW__CORE__*


def _one_execution_api() -> None:
    """`dag.test()` builds a new in-process execution API app for every task on Airflow 3.0 and 3.2 (2-3 s
    each; 3.3 builds one per run): one app serves every task of the process in turn, as one API server
    serves a real scheduler's."""
    import functools

    from airflow.sdk.execution_time import supervisor

    supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)


def _name(state: Any) -> str:
    """A state's name: Airflow gives enum members or plain strings, depending on the version and the path."""
    return str(getattr(state, "value", state))


def _task_states(dag_id: str, run_id: str) -> list[dict[str, Any]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        instances = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        return [
            {"task_id": ti.task_id, "map_index": ti.map_index, "state": _name(ti.state)}
            for ti in sorted(instances, key=lambda ti: (ti.start_date is None, ti.start_date or 0, ti.task_id))
        ]


def run(dag_ids: list[str], logical_date: str, variables: str, connections: str) -> dict[str, Any]:
    bag = _dagbag()
    import_errors = {str(path): str(error) for path, error in bag.import_errors.items()}
    missing = [dag_id for dag_id in dag_ids if dag_id not in bag.dags]
    if missing or not bag.dags:
        return {
            "error": f"no DAG {', '.join(map(repr, missing))} in the DAG folder" if missing else "no DAG in the folder",
            "dag_ids": sorted(bag.dags),
            "import_errors": import_errors,
        }
    import pendulum

    _one_execution_api()
    date = pendulum.parse(logical_date) if logical_date != "-" else None
    runs = []
    for dag_id in dag_ids or sorted(bag.dags):
        print(f"{DAG_MARKER}{dag_id}", flush=True)
        started = time.monotonic()
        dag_run = bag.dags[dag_id].test(logical_date=date, conn_file_path=connections, variable_file_path=variables)
        sys.stdout.flush()
        runs.append(
            {
                "dag_id": dag_id,
                "run_id": dag_run.run_id,
                "state": _name(dag_run.state),
                "seconds": round(time.monotonic() - started, 1),
                "tasks": _task_states(dag_id, dag_run.run_id),
            }
        )
    return {"runs": runs, "import_errors": import_errors}


def main() -> int:
    report, logical_date, variables, connections, *dag_ids = sys.argv[1:]
    Path(report).write_text(json.dumps(run(dag_ids, logical_date, variables, connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
