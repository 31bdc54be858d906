#!/usr/bin/env python3
"""Write what is generated from config/schema.py's models: the JSON schema editors validate
environments.toml with (config/environments.schema.json, also where config/reader.py takes the defaults
from) and the config reference (docs/config-reference.md).

Run after changing a field: `make config-docs`. `--check` exits 1 when a committed file is stale (a test
does the same), so a field never changes in one place only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "environments.schema.json"
REFERENCE = ROOT / "docs" / "config-reference.md"

sys.path.insert(0, str(ROOT))

from config.schema import ConfigFile  # noqa: E402


def render_schema() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": "Generated from config/schema.py by scripts/config_docs.py; do not edit.",
        **ConfigFile.model_json_schema(),
    }
    return json.dumps(schema, indent=2) + "\n"


def _default(spec: dict[str, Any], required: bool) -> str:
    if "x-default" in spec:
        return str(spec["x-default"])
    if required:
        return "required"
    value = spec.get("default", {})
    if value in ({}, []):
        return "none"
    return f"`{json.dumps(value)}`"


def _allowed(spec: dict[str, Any]) -> str:
    """The field's own sentence when it has one, else the keywords an editor checks, in words."""
    if "x-allowed" in spec:
        return str(spec["x-allowed"])
    parts = []
    if "enum" in spec and len(spec["enum"]) > 12:  # regions: the schema lists them for completion
        parts.append(f"one of {len(spec['enum'])} region codes (botocore's endpoint data)")
    elif "enum" in spec:
        parts.append(", ".join(f"`{json.dumps(v)}`" for v in spec["enum"]))
    if "pattern" in spec:
        parts.append(f"matches `{spec['pattern']}`")
    bounds = [f"{word} {spec[key]}" for key, word in (("minimum", "≥"), ("maximum", "≤")) if key in spec]
    parts += bounds
    if "maxLength" in spec:
        parts.append(f"at most {spec['maxLength']} characters")
    if spec.get("type") == "array" and "pattern" in spec.get("items", {}):
        parts.append(f"items match `{spec['items']['pattern']}`")
    if "$ref" in spec:
        table = spec["$ref"].rsplit("/", 1)[1]
        parts.append(f"a table: see [{table}](#{table.lower()})")
    if spec.get("type") == "array" and "$ref" in spec.get("items", {}):
        table = spec["items"]["$ref"].rsplit("/", 1)[1]
        parts.append(f"tables: see [{table}](#{table.lower()})")
    return "; ".join(parts) or KINDS.get(spec.get("type", ""), "")


KINDS = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "a list",
    "object": "a table",
}


def _table(name: str, definition: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", "", definition.get("description", ""), "", "| key | default | what it is | allowed |"]
    lines.append("|---|---|---|---|")
    for key, spec in definition["properties"].items():
        description, allowed = _cell(spec.get("description", "")), _cell(_allowed(spec))
        default = _cell(_default(spec, key in definition.get("required", [])))
        lines.append(f"| `{key}` | {default} | {description} | {allowed} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    """Text for a table cell: a `|` would end the cell and `<key>` would vanish as an HTML tag, outside code."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts)).replace(
        "|", "\\|"
    )


def render_reference() -> str:
    schema = ConfigFile.model_json_schema()
    definitions = schema["$defs"]
    lines = [
        "# Config reference",
        "",
        "<!-- Generated from config/schema.py by scripts/config_docs.py (`make config-docs`); do not edit. -->",
        "",
        "Every key of `config/environments.toml`, its default and what it accepts. The file starts with",
        "`#:schema ./environments.schema.json`, so an editor with a TOML language server (taplo, VS Code's",
        "Even Better TOML) checks and completes these as you type. `make synth` checks them too, with the",
        "rules that need other keys or AWS's lists; [Configuration](configuration.md) explains those.",
        "",
    ]
    for name in ("Pipeline", "Environment", "LogLevels", "WebAccess", "Statement"):
        lines += _table(name, definitions[name])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    outputs = {SCHEMA: render_schema(), REFERENCE: render_reference()}
    if argv[1:] == ["--check"]:
        stale = [path for path, text in outputs.items() if not path.is_file() or path.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run make config-docs", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
