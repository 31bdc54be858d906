"""Every stack's template against its committed snapshot, asset hashes masked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.snapshot import assert_matches_snapshot

STACKS = ["mwaa-platform-pipeline"] + [
    f"{s}-{role}" for s in ("dev", "prod") for role in ("network", "storage", "mwaa")
]


@pytest.mark.parametrize("stack_name", STACKS)
def test_template_matches_snapshot(stack_name: str, templates: dict[str, dict[str, Any]]) -> None:
    assert_matches_snapshot(stack_name, templates[stack_name])
