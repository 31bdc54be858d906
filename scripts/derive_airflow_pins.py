#!/usr/bin/env python3
"""Derive the DAG check's pins for each MWAA Airflow version from what MWAA's image installs.

Source: a snapshot of aws/amazon-mwaa-docker-images (a git directory). For each version it reads
  images/airflow/<v>/bootstrap/02-airflow/001-install-required-pip-packages.sh  what the image installs
  images/airflow/<v>/etc/airflow_constraints.txt                                Apache's constraints (Python 3.12)
  images/airflow/<v>/BillOfMaterials/<v>/Python-Packages-BOM.txt                what the built image holds
resolves the install list with uv against the constraints and the BOM's versions, for Python 3.12 on
Linux, and fails if any package the BOM lists comes out at another version. It writes
dagtools/requirements/airflow-<v>.txt (the pins) and mwaa-bom-<v>.txt (the BOM's package list, which
tests compare the pins with). Only derived data is committed, never the snapshot.

Usage: .venv/bin/python scripts/derive_airflow_pins.py GIT_DIR [VERSION ...]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[1] / "dagtools" / "requirements"
SOURCE = "aws/amazon-mwaa-docker-images"
# Left out of the pins: psycopg2 ships no wheels (it builds against libpq), and the image also installs
# psycopg2-binary (for the Postgres provider), which provides the same `psycopg2` module.
OMITTED = ("psycopg2",)
DIST_INFO = re.compile(r"site-packages/([^/]+)-([^-/]+)\.dist-info/")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def show(git_dir: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def install_list(script: str, version: str) -> list[str]:
    """The REQUIRED_PACKAGES array of the image's install script, with ${AIRFLOW_VERSION} filled in."""
    body = script.split("REQUIRED_PACKAGES=(", 1)[1].split(")\n", 1)[0]
    packages = [
        line.strip().strip('"') for line in body.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    return [p.replace("${AIRFLOW_VERSION}", version) for p in packages]


def bill_of_materials(text: str) -> dict[str, str]:
    return {normalized(name): version for name, version in DIST_INFO.findall(text)}


def resolve(packages: list[str], constraints: str, bom: dict[str, str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "in.txt").write_text("\n".join(packages) + "\n")
        (folder / "constraints.txt").write_text(constraints)
        (folder / "bom.txt").write_text("".join(f"{name}=={version}\n" for name, version in sorted(bom.items())))
        subprocess.run(
            [
                str(Path(sys.executable).with_name("uv")),
                "pip",
                "compile",
                "--quiet",
                "--python-version=3.12",
                "--python-platform=x86_64-manylinux_2_28",
                "--no-header",
                "--no-annotate",
                "--constraint=constraints.txt",
                "--constraint=bom.txt",
                "in.txt",
                "--output-file=out.txt",
            ],
            cwd=folder,
            check=True,
        )
        lines = (folder / "out.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        name, _, version = line.partition("==")
        pins[normalized(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def derive(git_dir: Path, version: str, commit: str) -> None:
    base = f"images/airflow/{version}"
    bom_path = f"{base}/BillOfMaterials/{version}/Python-Packages-BOM.txt"
    script_path = f"{base}/bootstrap/02-airflow/001-install-required-pip-packages.sh"
    constraints_path = f"{base}/etc/airflow_constraints.txt"
    bom = bill_of_materials(show(git_dir, commit, bom_path))
    pins = resolve(
        install_list(show(git_dir, commit, script_path), version), show(git_dir, commit, constraints_path), bom
    )
    differ = {name: (bom[name], pins[name]) for name in bom if name in pins and pins[name] != bom[name]}
    if differ:
        raise SystemExit(f"Airflow {version}: resolved versions differ from the image's BOM: {differ}")
    header = (
        f"# What MWAA's Airflow {version} image installs, for the DAG check (Python 3.12). Derived by\n"
        f"# scripts/derive_airflow_pins.py from {SOURCE}@{commit}:\n"
        f"#   {script_path} (the install list)\n"
        f"#   {constraints_path} (Apache's constraints)\n"
        f"#   {bom_path} (every version checked against it)\n"
        f"# Left out: {', '.join(OMITTED)} (no wheels; psycopg2-binary, also installed, is the same module).\n"
    )
    body = "".join(f"{name}=={pins[name]}\n" for name in sorted(pins) if name not in OMITTED)
    (REQUIREMENTS / f"airflow-{version}.txt").write_text(header + body)
    (REQUIREMENTS / f"mwaa-bom-{version}.txt").write_text(
        f"# The Python packages of MWAA's Airflow {version} image: {SOURCE}@{commit}:{bom_path}\n"
        + "".join(f"{name}=={bom[name]}\n" for name in sorted(bom))
    )
    print(f"Airflow {version}: {len(pins)} pins, {len(bom)} BOM packages, all equal", file=sys.stderr)


def main() -> int:
    git_dir = Path(sys.argv[1])
    versions = sys.argv[2:] or ["3.0.6", "3.2.1", "3.3.1"]
    commit = subprocess.run(
        ["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for version in versions:
        derive(git_dir, version, commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
