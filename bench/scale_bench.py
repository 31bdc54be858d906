"""Benchmark: one pipeline for 10, 25 and 50 environments: the pipeline stack's resources, size, synth time.

Each config copies the example's dev into N environments (tests/scale.py: the first alone, the rest in
waves of five, all but the first behind an approval) and synthesizes it as `make synth` does (the pinned
CDK CLI through scripts/synth.sh, cdk-nag on, failing on any warning). The goal: 50 environments with
the pipeline stack under half of CloudFormation's limits (250 resources, 500 KB), synth time growing
linearly.

Usage: python -m bench.scale_bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from config.rules import pipeline_template_bytes
from tests.scale import write_many_environments

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10, 25, 50)
PER_WAVE = 5
RESOURCE_LIMIT = 500  # CloudFormation's quotas: resources per stack
TEMPLATE_LIMIT = 1_000_000  # and bytes of a template given through S3 (1 MB)


def synthesize(count: int, folder: Path) -> tuple[float, dict[str, Any]]:
    config = write_many_environments(count, folder, per_wave=PER_WAVE)
    out = folder / f"cdk.out-{count}"
    started = time.monotonic()
    result = subprocess.run(
        ["scripts/synth.sh", "--output", str(out)],
        cwd=ROOT,
        env={**os.environ, "MWAA_CONFIG": str(config)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{count} environments did not synthesize:\n{result.stderr[-3000:]}")
    return seconds, json.loads((out / "mwaa-platform-pipeline.template.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        for count in SIZES:
            print(f"synthesizing {count} environments ...", file=sys.stderr, flush=True)
            seconds, template = synthesize(count, Path(tmp))
            size = len((Path(tmp) / f"cdk.out-{count}" / "mwaa-platform-pipeline.template.json").read_bytes())
            waves = 1 + -(-(count - 1) // PER_WAVE)
            rows.append((count, len(template["Resources"]), size, pipeline_template_bytes(count, waves), seconds))
    print(f"\nOne pipeline for N environments (waves of {PER_WAVE}), the pipeline stack as synthesized:\n")
    print(f"{'N':>4}{'resources':>11}{'template':>11}{'of 1 MB':>9}{'config est.':>13}{'synth':>8}{'per env':>9}")
    for count, resources, size, estimate, seconds in rows:
        print(
            f"{count:>4}{resources:>11}{size / 1000:>8.0f} KB{size / TEMPLATE_LIMIT:>9.0%}{estimate / 1000:>10.0f} KB"
            f"{seconds:>7.1f}s{seconds / count:>8.2f}s"
        )
    print(f"\nCloudFormation allows {RESOURCE_LIMIT} resources and {TEMPLATE_LIMIT // 1000} KB per stack.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
