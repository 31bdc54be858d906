"""Snapshot helper: compare a template with its committed copy, asset hashes masked and the CDK CLI's own
bookkeeping (construct paths and asset metadata, the CDKMetadata version report) left out.

`UPDATE_SNAPSHOTS=1 make test` rewrites the copies; review the diff like any other change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

SNAPSHOTS = Path(__file__).parent / "snapshots"
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


CLI_METADATA = ("aws:cdk:", "aws:asset:")


def masked(template: dict[str, Any]) -> str:
    kept = json.loads(json.dumps(template))
    kept.get("Resources", {}).pop("CDKMetadata", None)
    kept.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if not kept.get("Conditions", True):
        del kept["Conditions"]
    for resource in kept.get("Resources", {}).values():
        metadata = {k: v for k, v in resource.get("Metadata", {}).items() if not k.startswith(CLI_METADATA)}
        resource.pop("Metadata", None)
        if metadata:
            resource["Metadata"] = metadata
    return ASSET_HASH.sub("<asset-hash>", json.dumps(kept, indent=1, sort_keys=True)) + "\n"


def assert_matches_snapshot(name: str, template: dict[str, Any]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    actual = masked(template)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(actual)
        if os.environ.get("CI"):
            raise AssertionError(f"{path.name} was missing; commit the snapshot written now")
        return
    assert actual == path.read_text(), f"{name} changed; if intended, run UPDATE_SNAPSHOTS=1 make test and commit"
