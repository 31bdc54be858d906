#!/usr/bin/env bash
# Validate DAGs before they reach a bucket: ruff's Airflow rules and a parse with the real Airflow of
# each environment's version, in one report (python -m dagtools check runs both; every file gets a
# verdict even when ruff finds something). `make dags-check`, buildspec.yml and `make test` all run this.
# Usage: scripts/dags-check.sh [--source DIR] [--environment KEY] [--parse-budget SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && export PATH="$PWD/.venv/bin:$PATH"
exec python -m dagtools check "$@"
