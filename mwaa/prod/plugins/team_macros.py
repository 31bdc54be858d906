"""Macros every DAG in this environment can use in templates, for example {{ macros.team_macros.quarter(ds) }}."""

from __future__ import annotations

from datetime import date

from airflow.plugins_manager import AirflowPlugin


def quarter(ds: str) -> str:
    """'2026-11-25' -> '2026-Q4'."""
    day = date.fromisoformat(ds)
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class TeamMacrosPlugin(AirflowPlugin):
    name = "team_macros"
    macros = [quarter]  # noqa: RUF012 - AirflowPlugin declares macros as a class-level list
