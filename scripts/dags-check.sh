#!/usr/bin/env bash
# Validate DAGs before they reach a bucket: ruff's Airflow rules, then a parse with the real Airflow
# of each environment's version. `make dags-check`, buildspec.yml and `make test` all run this.
# Usage: scripts/dags-check.sh [--source DIR] [--environment KEY] [--parse-budget SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && export PATH="$PWD/.venv/bin:$PATH"

source_dir=dags
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--source" ] && source_dir=${args[$((i + 1))]}
done

echo "ruff (Airflow 3 rules) on $source_dir/"
ruff check --no-cache --quiet --select AIR "$source_dir"
python -m dagtools check "$@"
