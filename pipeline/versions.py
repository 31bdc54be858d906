"""Tool versions the pipeline installs, read from package.json so the pipeline runs what developers run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PACKAGE_JSON = Path(__file__).resolve().parents[1] / "package.json"


@dataclass(frozen=True)
class ToolVersions:
    cdk_cli: str
    cdk_assets: str


def pinned_versions(package_json: Path = PACKAGE_JSON) -> ToolVersions:
    dependencies = json.loads(package_json.read_text())["devDependencies"]
    return ToolVersions(cdk_cli=dependencies["aws-cdk"], cdk_assets=dependencies["cdk-assets"])
