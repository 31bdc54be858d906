#!/usr/bin/env bash
# Static checks on our own code: ruff (style, bugs, Airflow rules on dags/) and mypy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
ruff check --quiet .
ruff format --check --quiet .
mypy
