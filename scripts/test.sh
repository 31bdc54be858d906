#!/usr/bin/env bash
# The README's test command runs this: lint, then every test and gate (cdk-nag, cfn-lint, snapshots).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
scripts/lint.sh
pytest "$@"
