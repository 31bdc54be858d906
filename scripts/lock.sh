#!/usr/bin/env bash
# Lock every Python dependency (pyproject.toml) with hashes in uv.lock, and export what pip users and the
# pipelines' tool builds install: requirements.txt (the CDK app) and dagtools/requirements/tools.txt
# (boto3, ruff, uv for CodeBuild). `make lock` runs it after a change to pyproject.toml.
# --check: change nothing, exit 1 naming what is stale (a test runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv

exported() {  # FILE, then uv export's selection: what FILE must hold
  local file=$1; shift
  echo "# Generated from uv.lock by scripts/lock.sh (make lock): do not edit; change pyproject.toml instead."
  echo "# pip install --require-hashes -r $file"
  "$uv" export --quiet --frozen --no-emit-project --no-header "$@"
}

if [ "${1:-}" = "--check" ]; then
  if ! "$uv" lock --locked --quiet; then
    echo "uv.lock does not match pyproject.toml: run make lock" >&2
    exit 1
  fi
  stale=0
  for pair in "requirements.txt:--no-dev" "dagtools/requirements/tools.txt:--only-group=tools"; do
    file=${pair%%:*}
    if ! cmp -s <(exported "$file" "${pair#*:}") "$file"; then
      echo "$file is not what uv.lock exports: run make lock" >&2
      stale=1
    fi
  done
  exit "$stale"
fi

"$uv" lock --quiet
exported requirements.txt --no-dev > requirements.txt.new && mv requirements.txt.new requirements.txt
tools=dagtools/requirements/tools.txt
exported "$tools" --only-group=tools > "$tools.new" && mv "$tools.new" "$tools"
