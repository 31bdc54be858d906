#!/usr/bin/env bash
# uv's pinned requirement with its hashes, from the tools' hashed export: how pip installs uv itself
# before uv installs everything else (scripts/install.sh, scripts/install-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
awk '/^uv==/ { found = 1 } found { print; if ($0 !~ /\\$/) exit }' dagtools/requirements/tools.txt
