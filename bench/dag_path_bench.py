"""Benchmark: the DAG path as CodeBuild runs it, phase by phase, cold and with a warm uv cache.

A fresh `git clone` of this repository, a bare Python 3.12 first on PATH (what CodeBuild's image
gives), empty pip and uv caches, then every command of buildspec.yml in one shell (as CodeBuild
runs them) with DAG_STEP unset and DAG_ENVIRONMENT=dev: install the tools, check the DAGs with each
environment's Airflow, sync dags/ through the DAG sync role to moto's S3 on 127.0.0.1 (20 ms per
request), and wait until dev's Airflow serves them: dev's real Airflow behind MWAA's API
(tests/airflow_emulation.py, its copy every 2 s: `make bench`'s live benchmark measures MWAA's 30 s).
Config is the example's, with dev in moto's account and in the benchmark's bucket. After the sync the
bucket must hold exactly the clone's dags/. The second run keeps the first run's uv cache: what a
CodeBuild cache could at best save, beside the size it would have to restore.

Usage: python -m bench.dag_path_bench
"""

from __future__ import annotations

import argparse
import glob
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml  # type: ignore[import-untyped]

from bench.dagsync_bench import verify
from config import load_config
from tests.airflow_emulation import AirflowEmulation
from tests.mwaa_front import FrontEnvironment, MwaaFront
from tests.s3server import S3Server, client_environment

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@phase"
ACCOUNT = "123456789012"  # moto's
SCALED = {"dag_processor.refresh_interval": "3", "dag_processor.bundle_refresh_check_interval": "1"}
BUCKET = "bench-dag-path"


def bare_python_dir(scratch: Path) -> Path:
    """A folder whose python3 is a plain 3.12, as on CodeBuild's image."""
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")), reverse=True)
    python = shutil.which("python3.12") if not found else found[0]
    if not python:
        raise SystemExit("Python 3.12 not found (pyenv or PATH)")
    shims = scratch / "bin"
    shims.mkdir(parents=True)
    for name in ("python3", "python3.12", "python"):
        (shims / name).symlink_to(python)
    return shims


# What each build command of buildspec.yml does, in order.
BUILD_STEPS = ("check", "sync")


def script(buildspec: dict[str, object]) -> str:
    """The buildspec's commands as one bash script (CodeBuild runs them in one shell) that prints a
    timestamped mark before each install phase and each build command."""
    lines = ["set -eo pipefail"]
    phases = buildspec["phases"]
    lines.append(f'echo "{MARK} install $(date +%s.%N)"')
    lines += list(phases["install"]["commands"])  # type: ignore[index]
    for step, command in zip(BUILD_STEPS, phases["build"]["commands"], strict=True):  # type: ignore[index]
        lines += [f'echo "{MARK} {step} $(date +%s.%N)"', command]
    lines.append(f'echo "{MARK} end $(date +%s.%N)"')
    return "\n".join(lines)


def bench_config(scratch: Path) -> Path:
    """The example config with dev in moto's account and the benchmark's bucket."""
    example = (ROOT / "config" / "environments.toml").read_text()
    dev = f'account = "{ACCOUNT}"\nregion = "eu-west-1"\nenvironment_name = "mwaa-dev"\nbucket_name = "{BUCKET}"'
    path = scratch / "environments.toml"
    path.write_text(
        example.replace('account = "111111111111"\nregion = "eu-west-1"\nenvironment_name = "mwaa-dev"', dev)
    )
    return path


def run_buildspec(clone: Path, env: dict[str, str]) -> dict[str, float]:
    buildspec = yaml.safe_load((clone / "buildspec.yml").read_text())
    # As in CodeBuild, variables set on the project or action win over the buildspec's own.
    env = {**{k: str(v) for k, v in buildspec.get("env", {}).get("variables", {}).items()}, **env}
    result = subprocess.run(
        ["bash", "-c", script(buildspec)], cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"buildspec failed with {result.returncode}")
    marks = [line.split() for line in result.stdout.splitlines() if line.startswith(MARK)]
    phases = {name: float(next_at) - float(at) for (_, name, at), (_, _, next_at) in itertools.pairwise(marks)}
    # The sync step is the upload and then the wait; the sync prints how long each took.
    live = re.search(r": live in (\d+) s", result.stdout)
    phases["wait"] = float(live.group(1)) if live else float("nan")
    phases["sync"] -= phases["wait"]
    return phases


def one_run(label: str, server: S3Server, front: MwaaFront, scratch: Path, uv_cache: Path) -> dict[str, float]:
    clone = scratch / f"clone-{label}"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    s3 = boto3.client("s3")
    _empty(s3, BUCKET)
    # This machine's registry and certificate settings pass through; PATH, caches and AWS do not.
    passed = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV", "PYTHON", "UV_"))}
    env = {
        **passed,
        "PATH": f"{bare_python_dir(scratch / label)}:/usr/local/bin:/usr/bin:/bin",
        "UV_CACHE_DIR": str(uv_cache),
        "XDG_CACHE_HOME": str(scratch / label / "cache"),
        "PIP_NO_CACHE_DIR": "1",
        **client_environment(server.url),
        "AWS_ENDPOINT_URL_STS": server.url,
        "AWS_ENDPOINT_URL_SSM": server.url,
        "AWS_ENDPOINT_URL_MWAA": front.url,
        "MWAA_CONFIG": str(scratch / "environments.toml"),
        "DAG_ENVIRONMENT": "dev",
        "DAG_TOOLS_VENV": str(scratch / label / "dagtools-venv"),
    }
    env = {k: v for k, v in env.items() if v}
    started = time.monotonic()
    phases = run_buildspec(clone, env)
    phases["total"] = time.monotonic() - started
    delay, server.layer.delay = server.layer.delay, 0.0
    verify(s3, BUCKET, clone / "dags")
    server.layer.delay = delay
    return phases


def _empty(s3: Any, bucket: str) -> None:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    if listed:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    for name, value in client_environment("unused").items():
        os.environ.setdefault(name, value)
    with S3Server() as server, MwaaFront() as front, tempfile.TemporaryDirectory(prefix="dag-path-bench-") as tmp:
        scratch = Path(tmp)
        os.environ["AWS_ENDPOINT_URL_S3"] = server.url
        os.environ["AWS_ENDPOINT_URL_SSM"] = server.url
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        dev = load_config(bench_config(scratch)).environment("dev")
        # Deployed, as the main pipeline records it; dev's Airflow answers the wait.
        boto3.client("ssm").put_parameter(Name="/mwaa-platform/deployed/dev", Value="bench", Type="String")
        options = {**dev.airflow_configuration_options, **SCALED}
        with AirflowEmulation(
            dev.airflow_version, scratch / "airflow", s3=s3, bucket=BUCKET, options=options, copy_interval=2
        ) as airflow:
            front.add(FrontEnvironment(dev.environment_name, airflow))
            server.layer.delay = 0.020
            uv_cache = scratch / "uv-cache"
            print("measuring the cold DAG path (empty caches) ...", file=sys.stderr, flush=True)
            cold = one_run("cold", server, front, scratch, uv_cache)
            cache_size = size_mb(uv_cache)
            print("measuring it again with the first run's uv cache ...", file=sys.stderr, flush=True)
            warm = one_run("warm", server, front, scratch, uv_cache)
    print("\nThe DAG path as CodeBuild runs buildspec.yml (DAG_STEP unset: install, check, sync, wait), seconds:\n")
    print(f"{'phase':<10}{'cold':>8}{'uv cache':>10}")
    for phase in ("install", *BUILD_STEPS, "wait", "total"):
        print(f"{phase:<10}{cold[phase]:>8.1f}{warm[phase]:>10.1f}")
    print(
        f"\nThe uv cache after one run holds {cache_size:.0f} MB; a CodeBuild S3 cache would download and unpack "
        f"that before the build (at 100 MB/s, {cache_size / 100:.1f} s), against the "
        f"{cold['total'] - warm['total']:.1f} s it saves."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
