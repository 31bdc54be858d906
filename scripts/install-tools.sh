#!/usr/bin/env bash
# The boto3-only tools (dagtools/requirements/tools.txt, hashed from uv.lock: boto3, ruff, uv) into a venv
# of their own, for the DAG pipeline's builds (buildspec.yml) and the main pipeline's tool steps. pip
# fetches only uv, by hash, into a folder of its own; uv makes the venv (no ensurepip: 3 s saved) and
# installs the rest, every file checked against its hash.
# Usage: scripts/install-tools.sh VENV   (then put VENV/bin first on PATH)
set -euo pipefail
venv=${1:?usage: scripts/install-tools.sh VENV}
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
  --target "$venv.uv" -r <(scripts/uv-requirement.sh)
"$venv.uv/bin/uv" venv --quiet "$venv"
"$venv.uv/bin/uv" pip install --quiet --require-hashes --python "$venv/bin/python" -r dagtools/requirements/tools.txt
