"""Airflow options MWAA sets itself and silently overrides, per Airflow version.

Source: aws/amazon-mwaa-docker-images, `images/airflow/<version>/python/mwaa/config/airflow.py`,
`get_essential_airflow_config()` ("essential and cannot be overridden by the customer"), every
AIRFLOW__SECTION__OPTION it sets, read for 3.0.6, 3.2.1 and 3.3.1 at commit
9d2bebb5c7858e27a1c6afb20b7827840217e3a0 (3.3.1's file is the same as 3.2.1's).
The MWAA user guide adds that the `metrics` section is MWAA's own (CloudWatch integration), except
the three options its sidecar honours. An option set in config that MWAA then replaces would pass
every check here and do nothing in the environment, so config validation refuses it.
"""

from __future__ import annotations

_COMMON = frozenset(
    {
        "api.secret_key",
        "api_auth.jwt_algorithm",
        "api_auth.jwt_secret",
        "celery.broker_url",
        "celery.celery_config_options",
        "celery.result_backend",
        "celery.worker_enable_remote_control",
        "core.auth_manager",
        "core.execution_api_server_url",
        "core.executor",
        "core.fernet_key",
        "core.load_examples",
        "core.simple_auth_manager_all_admins",
        "core.simple_auth_manager_users",
        "database.sql_alchemy_conn",
        "execution_api.jwt_expiration_time",
        "fab.config_file",
        "logging.colored_console_log",
        "logging.logging_config_class",
        "operators.default_queue",
        "scheduler.standalone_dag_processor",
    }
)
_SINCE_3_2 = _COMMON | {"celery.extra_celery_config", "core.multi_team", "triggerer.queues_enabled"}
RESERVED_OPTIONS = {
    "3.0.6": _COMMON | {"celery_broker_transport_options.visibility_timeout"},
    "3.2.1": _SINCE_3_2,
    "3.3.1": _SINCE_3_2,
}
# The metrics section belongs to MWAA's CloudWatch integration; its sidecar reads only these three.
METRICS_SECTION = "metrics."
METRICS_HONOURED = frozenset({"metrics.statsd_on", "metrics.metrics_allow_list", "metrics.metrics_block_list"})


def reserved_problem(option: str, version: str) -> str | None:
    """Why MWAA would ignore `option` on Airflow `version`, or None when users may set it."""
    if option in RESERVED_OPTIONS.get(version, _COMMON):
        return f"MWAA sets {option} itself on Airflow {version} and overrides any value given"
    if option.startswith(METRICS_SECTION) and option not in METRICS_HONOURED:
        return (
            "MWAA owns the metrics section for its CloudWatch integration; only "
            + ", ".join(sorted(METRICS_HONOURED))
            + " may be set"
        )
    return None
