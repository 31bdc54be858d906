"""
### Daily orders summary

A daily TaskFlow pipeline: extract the day's orders, summarise them, publish the summary.
Each task returns a small value that Airflow hands to the next one through XCom; keep XCom
values small (IDs, counts, S3 keys), never whole data sets.

**Owner:** data-platform · **Schedule:** every day at 06:00 UTC · **Retries:** 2
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    description="Extract, summarise and publish yesterday's orders",
    tags=["example", "taskflow"],
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
)
def daily_orders_summary() -> None:
    @task
    def extract(data_interval_start: pendulum.DateTime | None = None) -> list[dict[str, Any]]:
        """Stands in for a query against the orders database for one data interval."""
        day = data_interval_start.to_date_string() if data_interval_start else "unknown"
        return [{"day": day, "amount": 12.5}, {"day": day, "amount": 30.0}]

    @task
    def summarise(orders: list[dict[str, Any]]) -> dict[str, float]:
        amounts = [order["amount"] for order in orders]
        return {"orders": len(amounts), "revenue": sum(amounts)}

    @task
    def publish(summary: dict[str, float]) -> None:
        print(f"{summary['orders']} orders, revenue {summary['revenue']:.2f}")

    publish(summarise(extract()))


daily_orders_summary()
