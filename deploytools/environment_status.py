"""Wait until an MWAA environment is AVAILABLE after a deploy; fail on a failed or unavailable state.

Runs after a wave's MWAA stacks deploy, through roles that may only call airflow:GetEnvironment on them.
Once available, it records the environment as deployed (an SSM parameter in the tools account, the
commit as its value): the DAG pipeline syncs only to environments recorded so. The first time, it
also starts the DAG pipeline: DAG commits pushed while the environment was being created found it not
deployed and synced nothing, and the main pipeline's seed ran at its own, older commit.
Usage: python -m deploytools.environment_status --environment dev  (as the pipeline runs it: all from config)
       python -m deploytools.environment_status --name mwaa-dev --role-arn ... --region eu-west-1
       [--record-parameter /mwaa-platform/deployed/dev [--start-pipeline mwaa-platform-dags]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

FAILED = {"CREATE_FAILED", "UPDATE_FAILED", "UNAVAILABLE", "DELETED", "DELETING"}
AVAILABLE = "AVAILABLE"


def wait_until_available(
    get_status: Callable[[], tuple[str, str]],
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    name: str = "",
) -> tuple[bool, str]:
    """(ok, message); `get_status` returns (status, last error message); `name` prefixes the progress lines
    (a wave's environments are waited for side by side)."""
    deadline = clock() + timeout
    while True:
        status, error = get_status()
        if status == AVAILABLE:
            return True, "AVAILABLE"
        if status in FAILED:
            return False, f"{status}{': ' + error if error else ''}"
        if clock() >= deadline:
            return False, f"still {status} after {timeout / 60:.0f} minutes"
        print(f"  {name + ': ' if name else ''}{status}, waiting ...", flush=True)
        sleep(interval)


@dataclass(frozen=True)
class Target:
    """One environment to wait for, and where to record it."""

    name: str
    role_arn: str | None
    region: str | None
    record_parameter: str | None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploytools.environment_status", description=__doc__)
    parser.add_argument(
        "--environment",
        action="append",
        help="an environment key from config (repeatable: a wave's environments, waited for side by side): its "
        "name, status-reader role and region, the parameter that records it and the DAG pipeline to start",
    )
    parser.add_argument("--name")
    parser.add_argument("--role-arn")
    parser.add_argument("--region")
    parser.add_argument("--timeout-minutes", type=float, default=90)
    parser.add_argument("--interval-seconds", type=float, default=30)
    parser.add_argument("--record-parameter", help="SSM parameter (this account) to write once available")
    parser.add_argument(
        "--start-pipeline", help="the DAG pipeline, started when a parameter is written for the first time"
    )
    args = parser.parse_args(argv)
    if args.environment:
        from deploytools.configured import environment, project

        pipeline = project().pipeline
        envs = [environment(key) for key in args.environment]
        targets = [
            Target(env.environment_name, env.status_reader_role_arn, env.region, pipeline.deployed_parameter(env.stage))
            for env in envs
        ]
        args.start_pipeline = args.start_pipeline or pipeline.dag_pipeline_name
    elif args.name:
        targets = [Target(args.name, args.role_arn, args.region, args.record_parameter)]
    else:
        parser.error("--name (or --environment) is needed")

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        waits = list(pool.map(lambda target: _wait(target, args), targets))
    first = [
        _record_deployed(target) for target, ok in zip(targets, waits, strict=True) if ok and target.record_parameter
    ]
    if any(first) and args.start_pipeline:
        _start_dag_pipeline(args.start_pipeline, [t.name for t, new in zip(targets, first, strict=False) if new])
    return 0 if all(waits) else 1


def _wait(target: Target, args: argparse.Namespace) -> bool:
    from aws_clients import mwaa_client, session_for

    mwaa = mwaa_client(session_for(role_arn=target.role_arn, region=target.region, session_name="environment-status"))

    def get_status() -> tuple[str, str]:
        environment = mwaa.get_environment(Name=target.name)["Environment"]
        error = environment.get("LastUpdate", {}).get("Error", {}).get("ErrorMessage", "")
        return environment["Status"], error

    ok, message = wait_until_available(
        get_status, timeout=args.timeout_minutes * 60, interval=args.interval_seconds, name=target.name
    )
    print(f"{target.name}: {message}", file=sys.stdout if ok else sys.stderr, flush=True)
    return ok


def _record_deployed(target: Target) -> bool:
    """Write the target's parameter; True when it did not exist yet (the environment is new)."""
    from aws_clients import session_for

    assert target.record_parameter
    commit = os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION", "deployed")
    ssm = session_for(role_arn=None, region=None, session_name="environment-status").client("ssm")
    try:
        ssm.put_parameter(Name=target.record_parameter, Value=commit, Type="String", Overwrite=False)
        first = True
    except ssm.exceptions.ParameterAlreadyExists:
        ssm.put_parameter(Name=target.record_parameter, Value=commit, Type="String", Overwrite=True)
        first = False
    print(f"{target.name}: recorded as deployed ({target.record_parameter} = {commit})")
    return first


def _start_dag_pipeline(pipeline: str, new: list[str]) -> None:
    """The DAG pipeline runs the branch's newest commit: DAG commits pushed while `new` were created reach them."""
    from aws_clients import session_for

    client = session_for(role_arn=None, region=None, session_name="environment-status").client("codepipeline")
    execution = client.start_pipeline_execution(name=pipeline)
    print(
        f"{', '.join(new)}: deployed for the first time, so started the DAG pipeline {pipeline} "
        f"(execution {execution['pipelineExecutionId']}): DAG commits pushed during the create reach it"
    )


if __name__ == "__main__":
    sys.exit(main())
