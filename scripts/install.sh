#!/usr/bin/env bash
# Install the CDK app's Python venv from uv.lock and the pinned Node + CDK CLI from package-lock.json,
# only when they changed. The Makefile and the main pipeline's builds both call this. Quiet when already
# installed; while installing, progress shows on a terminal and only failures are printed elsewhere (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never  # the machine's Python, never one downloaded behind the user's back

if [ -t 2 ]; then
  run() { "$@"; }
else
  run() {
    local log; log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; return 1; fi
    rm -f "$log"
  }
fi
quiet_unless_terminal() { [ -t 2 ] || echo --quiet; }

# uv itself, at the version pyproject.toml requires, with the hashes of the tools' export.
uv_version=$(sed -n 's/^required-version = "==\(.*\)"$/\1/p' pyproject.toml)
if [ "$(.venv/bin/uv --version 2>/dev/null | cut -d" " -f2)" != "$uv_version" ]; then
  echo "Installing uv $uv_version into .venv ..."
  [ -x .venv/bin/python ] || run python3 -m venv .venv
  run .venv/bin/python -m pip install --disable-pip-version-check --no-deps --require-hashes \
    -r <(scripts/uv-requirement.sh)
fi

# `uv sync --check` answers in milliseconds; only a real change syncs, and compiles (10 s once): where
# PYTHONDONTWRITEBYTECODE is set, every synth and test process would otherwise compile aws_cdk (2.5 s each).
if ! .venv/bin/uv sync --frozen --check --quiet 2>/dev/null; then
  echo "Installing Python dependencies into .venv (uv.lock) ..."
  # shellcheck disable=SC2046  # no flag at all on a terminal
  .venv/bin/uv sync --frozen --compile-bytecode $(quiet_unless_terminal)
fi

node_stamp=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat node_modules/.installed 2>/dev/null)" != "$node_stamp" ]; then
  echo "Installing the pinned Node and CDK CLI into node_modules ..."
  run npm ci --no-audit --no-fund
  echo "$node_stamp" > node_modules/.installed
fi
