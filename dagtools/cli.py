"""`python -m dagtools`: the DAG tools, as DAG authors, the Makefile and the pipelines run them, one package
per job: check/ (lint and parse the DAGs with MWAA's Airflow), local/ (run them on this machine),
sync/ (publish them to an environment's bucket) and live/ (what an environment's Airflow serves)."""

from __future__ import annotations

import argparse

from dagtools.options import environment_keys

EXAMPLES = """\
DAG authors (no AWS credentials needed):
  make dags-check                  python -m dagtools check
      check every DAG with each environment's Airflow and MWAA's packages
  make dag-test DAG=my_dag         python -m dagtools dag-test --dag my_dag
      run a DAG on this machine, on an environment's Airflow (every DAG without DAG=)
  make airflow                     python -m dagtools airflow
      Airflow's UI on http://127.0.0.1:8080 with dags/ live; Ctrl-C stops it

Operators (with AWS credentials: --profile NAME or AWS_PROFILE):
  python -m dagtools sync --environment dev --dry-run
      what a sync of dags/ to dev's bucket would change
  python -m dagtools status --environment prod
      which commit's DAGs prod runs, drift in its bucket, the import errors it reports

Each command's options: python -m dagtools <command> --help
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dagtools",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{check,dag-test,airflow,sync,status}")
    keys = environment_keys()

    from dagtools.check.command import add_check_command
    from dagtools.live.status import add_status_command
    from dagtools.local.command import add_local_commands
    from dagtools.sync.command import add_sync_command

    add_check_command(commands, keys)
    add_local_commands(commands, keys)
    add_sync_command(commands, keys)
    add_status_command(commands, keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
