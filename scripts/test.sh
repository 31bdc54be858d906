#!/usr/bin/env bash
# The README's test command runs this: lint, and every test and gate (cdk-nag, cfn-lint, snapshots).
# Lint runs beside the tests: on a clean clone mypy takes a minute (no cache yet) on a core the tests
# leave idle much of the time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
scripts/lint.sh &
lint=$!
# On every core (at most 4), the tests of the synthesized apps together on one (see tests/conftest.py).
tests=0
pytest -n auto --maxprocesses 4 --dist loadgroup "$@" || tests=$?
if ! wait "$lint"; then
  echo "lint failed (scripts/lint.sh)" >&2
  exit 1
fi
exit "$tests"
