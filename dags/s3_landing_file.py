"""
### S3 landing file

Waits for the day's export to land in S3, then processes it. Uses the Amazon provider that MWAA
preinstalls (no requirements.txt entry needed). The sensor runs **deferrable**: while it waits
it frees its worker slot and the triggerer polls S3 instead.

The bucket comes from the Airflow Variable `landing_bucket`, rendered by a Jinja template at task
time (not at parse time). The execution role needs `s3:ListBucket` and `s3:GetObject` on it:
add them through the environment's extra execution-role statements in config.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import dag, task

LANDING_KEY = "exports/{{ ds }}/orders.csv"


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    description="Wait for the daily export in S3, then count its rows",
    tags=["example", "aws", "sensor"],
    default_args={"owner": "data-platform"},
    doc_md=__doc__,
)
def s3_landing_file() -> None:
    wait_for_export = S3KeySensor(
        task_id="wait_for_export",
        bucket_name="{{ var.value.landing_bucket }}",
        bucket_key=LANDING_KEY,
        deferrable=True,
        timeout=6 * 60 * 60,
    )

    @task
    def count_rows(bucket: str, key: str) -> int:
        content = S3Hook().read_key(key=key, bucket_name=bucket)
        return max(len(content.splitlines()) - 1, 0)

    wait_for_export >> count_rows(bucket="{{ var.value.landing_bucket }}", key=LANDING_KEY)


s3_landing_file()
