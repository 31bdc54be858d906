#!/usr/bin/env bash
# The README's test command runs this: lint, then every test and gate (cdk-nag, cfn-lint, snapshots).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
scripts/lint.sh
# On every core (at most 4), the tests of the synthesized apps together on one (see tests/conftest.py).
pytest -n auto --maxprocesses 4 --dist loadgroup "$@"
