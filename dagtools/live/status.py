"""`python -m dagtools status`: which commit's DAGs an environment runs, drift between its bucket and the
sync's manifest, and the import errors its Airflow reports."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_clients import describe_error
from dagtools.options import ROLE_ARN_OPTION
from dagtools.sync.command import aws_session, s3_client
from dagtools.sync.engine import DagSync


def add_status_command(commands: Any, environment_keys: str) -> None:
    status = commands.add_parser(
        "status",
        help="which commit's DAGs are live in an environment, drift, import errors",
        epilog="example: python -m dagtools status --environment prod --profile prod-readonly",
    )
    status.add_argument(
        "--environment", required=True, metavar=environment_keys, help="an environment of config/environments.toml"
    )
    status.add_argument(
        "--role-arn",
        type=ROLE_ARN_OPTION,
        help="assume this role first (for example the environment's DAG sync role)",
    )
    status.add_argument("--profile", help="AWS profile (default: the standard AWS settings)")
    status.add_argument("--json", action="store_true", help="print JSON on stdout")
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    """The commit the bucket's manifest records, drift between bucket and manifest, the import errors."""
    from config import ConfigError, UnknownEnvironmentError, read_config
    from dagtools.live.wait import LiveError, airflow_reader, all_import_errors
    from dagtools.sync.source import IgnoreRules

    try:
        env = read_config(os.environ.get("MWAA_CONFIG")).environment(args.environment)
    except (ConfigError, UnknownEnvironmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.region = env.region
    report: dict[str, Any] = {"environment": args.environment, "bucket": env.bucket_name}
    try:
        session = aws_session(args)
        syncer = DagSync(
            s3_client(session, 4), bucket=env.bucket_name, prefix="dags/", expected_bucket_owner=env.account
        )
        remote = syncer.read_remote(IgnoreRules.for_source(Path("dags")))
        report["commit"] = remote.commit
        report["missing"] = sorted(set(remote.manifest) - set(remote.etags))
        report["unrecorded"] = sorted(set(remote.etags) - set(remote.manifest))
        report["edited"] = sorted(
            p for p, e in remote.manifest.items() if p in remote.etags and remote.etags[p] != e.etag
        )
        reader = airflow_reader(
            session, env.environment_name, env.dag_reader_function_name if env.private_web_server else None
        )
        report["import_errors"] = {
            error.get("filename"): error.get("stack_trace") for error in all_import_errors(reader)
        }
    except LiveError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # botocore errors of every kind end here, with their message
        print(f"error: {describe_error(error)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.environment} ({env.environment_name}), s3://{env.bucket_name}/dags/")
    print(f"  DAGs from commit: {remote.commit or 'unknown (no manifest, or synced without a commit)'}")
    drift = [
        ("in the manifest, missing from the bucket", report["missing"]),
        ("in the bucket, not in the manifest", report["unrecorded"]),
        ("edited outside the sync", report["edited"]),
    ]
    if not any(paths for _, paths in drift):
        print(f"  no drift: the bucket holds exactly the {len(remote.manifest)} file(s) the manifest records")
    for label, paths in drift:
        for path in paths:
            print(f"  drift ({label}): {path}")
    if not report["import_errors"]:
        print("  import errors: none")
    for filename, trace in report["import_errors"].items():
        print(f"  IMPORT ERROR {filename}:\n{trace}")
    return 0
