#!/usr/bin/env bash
# Install the CDK app's Python venv and the pinned Node + CDK CLI, only when their pins changed.
# Quiet when already installed; the Makefile and the pipeline's synth step both call this.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
run_logged() {
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; return 1; fi
  rm -f "$log"
}

# This script is part of the stamp: a change to how the venv is installed reinstalls it.
python_stamp=$(stamp_of requirements.txt requirements-dev.txt dagtools/requirements/tools.txt "$0")
if [ "$(cat .venv/.installed 2>/dev/null)" != "$python_stamp" ]; then
  echo "Installing Python dependencies into .venv ..."
  [ -x .venv/bin/python ] || run_logged python3 -m venv .venv
  # uv (pinned in tools.txt) installs everything else: seconds where pip takes minutes.
  run_logged .venv/bin/python -m pip install --disable-pip-version-check "$(grep '^uv==' dagtools/requirements/tools.txt)"
  # Compiled now, once (10 s): where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, every
  # synth and test process would otherwise compile aws_cdk again (2.5 s each).
  run_logged .venv/bin/uv pip install --compile-bytecode --python .venv/bin/python -r requirements-dev.txt
  echo "$python_stamp" > .venv/.installed
fi

node_stamp=$(stamp_of package.json package-lock.json)
if [ "$(cat node_modules/.installed 2>/dev/null)" != "$node_stamp" ]; then
  echo "Installing the pinned Node and CDK CLI into node_modules ..."
  run_logged npm ci --no-audit --no-fund
  echo "$node_stamp" > node_modules/.installed
fi
