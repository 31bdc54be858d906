"""Runs inside an environment's Airflow venv: one DAG run with `dag.test()`, its task states as JSON.

Standard library and Airflow only; `python -m dagtools dag-test` runs it and reports. Task output goes
to this process's stdout and stderr, between Airflow's "[DAG TEST] starting/end task" lines.
Usage: python -m dagtools.airflow_dag_test DAG_ID LOGICAL_DATE|- VARIABLES_FILE CONNECTIONS_FILE REPORT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _dagbag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models import DagBag  # Airflow 3.0 and 3.1
    return DagBag()  # the DAG folder and examples come from AIRFLOW__CORE__*


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


def run(dag_id: str, logical_date: str, variables: str, connections: str) -> dict[str, Any]:
    bag = _dagbag()
    if dag_id not in bag.dags:
        return {
            "error": f"no DAG {dag_id!r} in the DAG folder",
            "dag_ids": sorted(bag.dags),
            "import_errors": {str(path): str(error) for path, error in bag.import_errors.items()},
        }
    import pendulum

    dag = bag.dags[dag_id]
    date = pendulum.parse(logical_date) if logical_date != "-" else None
    dag_run = dag.test(logical_date=date, conn_file_path=connections, variable_file_path=variables)
    return {
        "run_id": dag_run.run_id,
        "state": _name(dag_run.state),
        "tasks": _task_states(dag_id, dag_run.run_id),
    }


def main() -> int:
    dag_id, logical_date, variables, connections, report = sys.argv[1:6]
    Path(report).write_text(json.dumps(run(dag_id, logical_date, variables, connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
