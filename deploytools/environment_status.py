"""Wait until an MWAA environment is AVAILABLE after a deploy; fail on a failed or unavailable state.

Runs after the MWAA stack deploys, through a role that may only call airflow:GetEnvironment on it.
Usage: python -m deploytools.environment_status --name mwaa-dev --role-arn ... --region eu-west-1
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)

    from dagtools.aws import session_for

    mwaa = session_for(role_arn=args.role_arn, region=args.region, session_name="environment-status").client("mwaa")

    def get_status() -> tuple[str, str]:
        environment = mwaa.get_environment(Name=args.name)["Environment"]
        error = environment.get("LastUpdate", {}).get("Error", {}).get("ErrorMessage", "")
        return environment["Status"], error

    ok, message = wait_until_available(get_status, timeout=args.timeout_minutes * 60, interval=args.interval_seconds)
    print(f"{args.name}: {message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
