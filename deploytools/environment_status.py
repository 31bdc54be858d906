"""Wait until an MWAA environment is AVAILABLE after a deploy; fail on a failed or unavailable state.

Runs after the MWAA stack deploys, through a role that may only call airflow:GetEnvironment on it.
Once available, it records the environment as deployed (an SSM parameter in the tools account, the
commit as its value): the DAG pipeline syncs only to environments recorded so. The first time, it
also starts the DAG pipeline: DAG commits pushed while the environment was being created found it not
deployed and synced nothing, and the main pipeline's seed ran at its own, older commit.
Usage: python -m deploytools.environment_status --name mwaa-dev --role-arn ... --region eu-west-1
       [--record-parameter /mwaa-platform/deployed/dev [--start-pipeline mwaa-platform-dags]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE", "DELETED", "DELETING"}
AVAILABLE = "AVAILABLE"


def wait_until_available(
    get_status: Callable[[], tuple[str, str]],
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str]:
    """(ok, message); `get_status` returns (status, last error message)."""
    deadline = clock() + timeout
    while True:
        status, error = get_status()
        if status == AVAILABLE:
            return True, "AVAILABLE"
        if status in FAILED:
            return False, f"{status}{': ' + error if error else ''}"
        if clock() >= deadline:
            return False, f"still {status} after {timeout / 60:.0f} minutes"
        print(f"  {status}, waiting ...", flush=True)
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploytools.environment_status", description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--role-arn")
    parser.add_argument("--region")
    parser.add_argument("--timeout-minutes", type=float, default=90)
    parser.add_argument("--interval-seconds", type=float, default=30)
    parser.add_argument("--record-parameter", help="SSM parameter (this account) to write once available")
    parser.add_argument(
        "--start-pipeline", help="the DAG pipeline, started when the parameter is written for the first time"
    )
    args = parser.parse_args(argv)

    from dagtools.aws import mwaa_client, session_for

    mwaa = mwaa_client(session_for(role_arn=args.role_arn, region=args.region, session_name="environment-status"))

    def get_status() -> tuple[str, str]:
        environment = mwaa.get_environment(Name=args.name)["Environment"]
        error = environment.get("LastUpdate", {}).get("Error", {}).get("ErrorMessage", "")
        return environment["Status"], error

    ok, message = wait_until_available(get_status, timeout=args.timeout_minutes * 60, interval=args.interval_seconds)
    print(f"{args.name}: {message}", file=sys.stdout if ok else sys.stderr)
    if ok and args.record_parameter:
        _record_deployed(args.name, args.record_parameter, args.start_pipeline)
    return 0 if ok else 1


def _record_deployed(name: str, parameter: str, dag_pipeline: str | None) -> None:
    """Write the parameter; on its first write, start the DAG pipeline so the newest DAGs reach the new
    environment (it runs on the branch's newest commit)."""
    from dagtools.aws import session_for

    commit = os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION", "deployed")
    session = session_for(role_arn=None, region=None, session_name="environment-status")
    ssm = session.client("ssm")
    try:
        ssm.put_parameter(Name=parameter, Value=commit, Type="String", Overwrite=False)
        first = True
    except ssm.exceptions.ParameterAlreadyExists:
        ssm.put_parameter(Name=parameter, Value=commit, Type="String", Overwrite=True)
        first = False
    print(f"{name}: recorded as deployed ({parameter} = {commit})")
    if first and dag_pipeline:
        execution = session.client("codepipeline").start_pipeline_execution(name=dag_pipeline)
        print(
            f"{name}: deployed for the first time, so started the DAG pipeline {dag_pipeline} "
            f"(execution {execution['pipelineExecutionId']}): DAG commits pushed during the create reach it"
        )


if __name__ == "__main__":
    sys.exit(main())
