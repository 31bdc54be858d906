"""Snapshot helper: compare a template with its committed copy, asset hashes masked.

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


def masked(template: dict[str, Any]) -> str:
    return ASSET_HASH.sub("<asset-hash>", json.dumps(template, indent=1, sort_keys=True)) + "\n"


def assert_matches_snapshot(name: str, template: dict[str, Any]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    actual = masked(template)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(actual)
        if os.environ.get("CI"):
            raise AssertionError(f"{path.name} was missing; commit the snapshot written now")
        return
    assert actual == path.read_text(), f"{name} changed; if intended, run UPDATE_SNAPSHOTS=1 make test and commit"
