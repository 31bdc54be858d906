"""
### Variable-driven report

Reads its settings at **task time**, never at parse time: the scheduler parses this file every
30 seconds on every scheduler, so a `Variable.get()` at the top level would hit the metadata
database (or Secrets Manager) on each parse and slow every DAG down.

Set the Airflow Variable `report_settings` to JSON such as
`{"recipients": ["team@example.com"], "threshold": 10}` and the connection `reporting_api`
(host and password) in the Airflow UI or your secrets backend.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Connection, Variable, dag, task


@dag(
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    description="Weekly report whose settings come from an Airflow Variable and a connection",
    tags=["example", "variables"],
    default_args={"owner": "data-platform", "retries": 1},
    doc_md=__doc__,
)
def variable_driven_report() -> None:
    @task
    def load_settings() -> dict[str, object]:
        settings: dict[str, object] = Variable.get("report_settings", deserialize_json=True, default={})
        return {"recipients": settings.get("recipients", []), "threshold": settings.get("threshold", 0)}

    @task
    def send_report(settings: dict[str, object]) -> str:
        api = Connection.get("reporting_api")
        print(f"Sending to {settings['recipients']} through {api.host} (threshold {settings['threshold']})")
        return str(api.host)

    send_report(load_settings())


variable_driven_report()
