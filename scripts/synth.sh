#!/usr/bin/env bash
# Synthesize the whole app with the pinned CDK CLI; fails on any warning the CLI prints.
# The output folder is emptied first, so templates of an earlier config never linger and get counted.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"

out=cdk.out
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--output" ] || [ "${!i}" = "-o" ]; then j=$((i + 1)); out=${!j}; fi
done
if [ -e "$out" ] && [ ! -f "$out/manifest.json" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$out is not empty and holds no cloud assembly; refusing to empty it." >&2
  exit 1
fi
rm -rf "$out"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-notices: a CDK CLI notice (news from the CDK team) is not a warning about this app.
if ! cdk synth --quiet --no-notices "$@" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
if grep -iE '\bwarn(ing)?s?\b|deprecat|^!!' "$log" >&2; then
  echo "cdk synth printed warnings (above); fix them: the build must stay warning-free." >&2
  exit 1
fi
echo "Synthesized $(find "$out" -name '*.template.json' | wc -l) templates into $out/ with no warnings."
