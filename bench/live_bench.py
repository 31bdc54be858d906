"""Benchmark: from the end of a DAG sync to "live", with MWAA's real intervals, on the real Airflow.

dev's Airflow (3.3.1, MWAA's packages) with dev's Airflow options from config (so the project's default
`dag_processor.refresh_interval`), its DAG folder copied from moto's bucket every 30 s as MWAA copies it,
behind MWAA's InvokeRestApi (tests/airflow_emulation.py, tests/mwaa_front.py). The sync runs as CodeBuild
runs it, with the check's index and the default live options, and reports when Airflow served the upload.

MWAA's copy runs on its own clock, so where in its 30 s a sync lands decides much of the wait: each case
is measured with the sync started early, midway and late in the copy period. Then a first sync of 500
new DAG files, confirmed within the same bound on calls per round.

Usage: python -m bench.live_bench
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from config import load_config
from dagtools.check.airflow_venv import CheckTarget, airflow_python
from dagtools.check.command import dag_index, probe
from dagtools.cli import main as dagtools
from dagtools.live.wait import MWAA_COPY_INTERVAL
from tests.airflow_emulation import AirflowEmulation
from tests.mwaa_front import FrontEnvironment, MwaaFront
from tests.s3server import MOTO_ACCOUNT, S3Server, client_environment

PHASES = (0.15, 0.5, 0.85)  # where in MWAA's copy period each measured sync starts
FIRST_SYNC_FILES = 500
DAG = '''"""Benchmark DAG {n}."""
import pendulum
from airflow.sdk import dag


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["bench"])
def build() -> None:
    pass


build()
'''


def index(source: Path, version: str, where: Path) -> Path:
    """The DAG check's index of `source`, from the real Airflow's parse."""
    target = CheckTarget(version, None, None, ("dev",))
    where.write_text(json.dumps(dag_index(source, [(target, probe(airflow_python(target), source, 5.0))])))
    return where


def sync(source: Path, bucket: str, environment: str, index_file: Path) -> dict[str, Any]:
    """The sync with the live wait, as the DAG pipeline runs it; its JSON summary."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = dagtools(
            [
                "sync", "--source", str(source), "--bucket", bucket, "--environment", "dev", "--json",
                "--expected-bucket-owner", MOTO_ACCOUNT, "--allow-mass-delete",
                "--live-environment", environment, "--dag-index", str(index_file),
            ]
        )  # fmt: skip
    summary: dict[str, Any] = json.loads(out.getvalue())
    if code != 0:
        raise SystemExit(f"the sync failed: {summary.get('error')}")
    return summary


def at_phase(copier: Any, phase: float) -> None:
    """Sleep until MWAA's copier is `phase` of the way through its period."""
    since = time.time() - copier.last_copy
    time.sleep((phase * copier.interval - since) % copier.interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    dev = load_config(os.environ.get("MWAA_CONFIG")).environment("dev")
    options = dict(dev.airflow_configuration_options)
    with S3Server() as server, MwaaFront() as front, tempfile.TemporaryDirectory(prefix="live-bench-") as tmp:
        for key, value in client_environment(server.url).items():
            os.environ[key] = value
        os.environ["AWS_ENDPOINT_URL_MWAA"] = front.url
        s3 = boto3.client("s3")
        work = Path(tmp)
        rows: dict[str, list[float]] = {"changed file": [], "new file": []}
        first: dict[str, Any] = {}
        for bucket in ("bench-live", "bench-first-sync"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        print(
            f"Airflow {dev.airflow_version} with dev's options {options}, MWAA's copy every "
            f"{MWAA_COPY_INTERVAL:g} s ...",
            file=sys.stderr,
            flush=True,
        )
        source = work / "dags"
        source.mkdir()
        (source / "orders.py").write_text(DAG.format(n=0, dag_id="bench_orders"))
        with AirflowEmulation(dev.airflow_version, work / "airflow", s3=s3, bucket="bench-live", options=options) as af:
            front.add(FrontEnvironment("bench-live", af))
            sync(source, "bench-live", "bench-live", index(source, dev.airflow_version, work / "index.json"))
            for n, phase in enumerate(PHASES, start=1):
                (source / "orders.py").write_text(DAG.format(n=n, dag_id="bench_orders"))
                index_file = index(source, dev.airflow_version, work / "index.json")
                at_phase(af.copier, phase)
                rows["changed file"].append(sync(source, "bench-live", "bench-live", index_file)["live_seconds"])
                (source / f"new_{n}.py").write_text(DAG.format(n=n, dag_id=f"bench_new_{n}"))
                index_file = index(source, dev.airflow_version, work / "index.json")
                at_phase(af.copier, phase)
                rows["new file"].append(sync(source, "bench-live", "bench-live", index_file)["live_seconds"])
                print(
                    f"  sync {n}: changed {rows['changed file'][-1]} s, new {rows['new file'][-1]} s", file=sys.stderr
                )
        print(f"a first sync of {FIRST_SYNC_FILES} new DAG files ...", file=sys.stderr, flush=True)
        many = work / "many"
        many.mkdir()
        for n in range(FIRST_SYNC_FILES):
            (many / f"dag_{n:03}.py").write_text(DAG.format(n=n, dag_id=f"bench_many_{n:03}"))
        many_index = index(many, dev.airflow_version, work / "many-index.json")
        with AirflowEmulation(
            dev.airflow_version, work / "airflow-many", s3=s3, bucket="bench-first-sync", options=options
        ) as af:
            front.add(FrontEnvironment("bench-first-sync", af))
            first = sync(many, "bench-first-sync", "bench-first-sync", many_index)
    print("\nFrom the end of a DAG sync to live on dev's Airflow (MWAA's 30 s copy, dev's options), seconds:\n")
    print(f"{'case':<14}" + "".join(f"{f'at {p:.0%}':>8}" for p in PHASES) + f"{'median':>8}")
    for case, seconds in rows.items():
        print(f"{case:<14}" + "".join(f"{s:>8.0f}" for s in seconds) + f"{statistics.median(seconds):>8.0f}")
    print(
        f"\nA first sync of {FIRST_SYNC_FILES} new DAG files: live {first['live_seconds']} s after the sync "
        f"(timeout {first['live_timeout']:.0f} s), {first['live_calls']} calls in {first['live_rounds']} rounds, "
        f"at most {first['live_most_calls_in_a_round']} in one round."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
