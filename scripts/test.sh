#!/usr/bin/env bash
# The README's test command runs this: lint, and every test and gate (cdk-nag, cfn-lint, snapshots).
# Lint runs beside the tests: on a clean clone mypy takes a minute (no cache yet) on a core the tests
# leave idle much of the time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
scripts/lint.sh &
lint=$!
# Four workers whatever the cores: much of the suite waits on Airflow (its start, MWAA's copy, its parse)
# rather than computing, so four overlap those waits on two cores. The tests of each synthesized app,
# and of each Airflow version's emulation, stay together on one worker (see tests/conftest.py).
tests=0
pytest -n 4 --dist loadgroup "$@" || tests=$?
if ! wait "$lint"; then
  echo "lint failed (scripts/lint.sh)" >&2
  exit 1
fi
exit "$tests"
