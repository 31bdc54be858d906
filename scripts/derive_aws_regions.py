#!/usr/bin/env python3
"""Write config/data/aws_regions.json from the endpoint data botocore ships, so config validation
(standard library only) knows every region code and where each service we use is offered, offline.

Run after upgrading boto3/botocore: `.venv/bin/python scripts/derive_aws_regions.py`.
A test fails when the committed file differs from what the installed botocore gives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parents[1] / "config" / "data" / "aws_regions.json"
# The services the stacks (airflow, in each environment's region) and the pipeline stack (the rest,
# in the tools region) call; codestar-connections is where CodeConnections' API answers.
SERVICES = ("airflow", "codebuild", "codepipeline", "codestar-connections", "codestar-notifications", "kms", "sns")


def derive() -> dict[str, Any]:
    import botocore

    endpoints = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    regions: dict[str, str] = {}
    offered: dict[str, list[str]] = {service: [] for service in SERVICES}
    for partition in endpoints["partitions"]:
        names = sorted(partition["regions"])
        regions.update(dict.fromkeys(names, partition["partition"]))
        for service in SERVICES:
            listed = partition["services"].get(service, {}).get("endpoints", {})
            offered[service] += [r for r in names if r in listed]
    return {
        "source": f"botocore {botocore.__version__}, botocore/data/endpoints.json",
        "regions": dict(sorted(regions.items())),
        "services": {service: sorted(found) for service, found in offered.items()},
    }


def render() -> str:
    return json.dumps(derive(), indent=1) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}", file=sys.stderr)
