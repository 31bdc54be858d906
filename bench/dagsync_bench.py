"""Benchmark: our content-hash sync against `aws s3 sync --delete`, on a fresh clone with one change.

Both tools run as whole processes against moto's S3 server on 127.0.0.1 behind the test layer,
which adds a fixed delay to every request (default 20 ms, a realistic S3 round trip from CodeBuild)
and counts requests by type. Each tool seeds its own bucket first; then every local mtime is made
new (what a fresh `git clone` does) and one file changes; only those runs are measured, and after each
the bucket must hold exactly the local files, by content.

Usage: python -m bench.dagsync_bench [--files 500 5000] [--delay-ms 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.s3server import S3Server, client_environment

PREFIX = "dags/"
MANIFEST = f"{PREFIX}.dagsync-manifest.json"
KINDS = ("LIST", "GET", "PUT", "DELETE", "HEAD", "OTHER")


@dataclass
class Run:
    tool: str
    files: int
    seconds: float
    requests: Counter[str]


def write_dags(folder: Path, count: int) -> None:
    for i in range(count):
        path = folder / f"team_{i % 20:02d}" / f"dag_{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'"""DAG {i}."""\nfrom airflow.sdk import dag\n\nVALUE = {i}\n' + "# padding\n" * 20)


def fresh_clone(folder: Path, changed: str) -> None:
    """Every mtime new, as after `git clone`, and one file's content changed."""
    later = time.time() + 3600
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (later, later))
    target = folder / changed
    target.write_text(target.read_text() + "# changed\n")
    os.utime(target, (later, later))


def command(tool: str, source: Path, bucket: str, url: str) -> list[str]:
    if tool == "dagtools":
        return [sys.executable, "-m", "dagtools", "sync", "--source", str(source), "--bucket", bucket]
    aws = str(Path(sys.executable).with_name("aws"))
    return [
        aws,
        "s3",
        "sync",
        str(source),
        f"s3://{bucket}/{PREFIX}",
        "--delete",
        "--only-show-errors",
        "--endpoint-url",
        url,
    ]


def run(tool: str, source: Path, bucket: str, server: S3Server) -> float:
    env = {**os.environ, **client_environment(server.url)}
    started = time.monotonic()
    subprocess.run(
        command(tool, source, bucket, server.url),
        env=env,
        check=True,
        cwd=Path(__file__).parents[1],
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def verify(s3: Any, bucket: str, source: Path) -> None:
    """The bucket's dags/ must equal the local folder, file by file, by content."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"] != MANIFEST]
    local = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    assert sorted(k[len(PREFIX) :] for k in keys) == sorted(local), "bucket and local folder list different files"

    def matches(key: str) -> bool:
        return bool(s3.get_object(Bucket=bucket, Key=key)["Body"].read() == local[key[len(PREFIX) :]])

    with ThreadPoolExecutor(32) as pool:
        assert all(pool.map(matches, keys)), "a file in the bucket differs from the local one"


def measure(tool: str, count: int, server: S3Server, s3: Any, workdir: Path, repeat: int) -> Run:
    """The median of `repeat` fresh-clone runs, each changing another file; the bucket is verified
    after each."""
    bucket = f"bench-{tool.replace('_', '-')}-{count}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    source = workdir / f"{tool}-{count}"
    write_dags(source, count)
    run(tool, source, bucket, server)  # seed the bucket
    seconds = []
    for attempt in range(repeat):
        fresh_clone(source, f"team_{attempt % 20:02d}/dag_{attempt:05d}.py")
        server.layer.reset_counts()
        seconds.append(run(tool, source, bucket, server))
        requests = Counter(server.layer.counts)
        delay, server.layer.delay = server.layer.delay, 0.0
        verify(s3, bucket, source)
        server.layer.delay = delay
    return Run(tool, count, statistics.median(seconds), requests)


def floors(server: S3Server, s3: Any, runs: list[Run]) -> None:
    """What no sync tool can go below here: starting Python with an S3 client, and the stand-in S3
    listing a prefix (moto builds every page in one Python process, so ranges listed side by side
    cannot overlap its work as they do on S3); and the ratio to aws s3 sync those two alone allow."""
    started = time.monotonic()
    client = "import botocore.session as s; s.get_session().create_client('s3')"
    subprocess.run([sys.executable, "-c", client], check=True)
    start = time.monotonic() - started
    print(f"\nFloors: Python with botocore and an S3 client starts in {start:.2f} s", end="")
    caps = []
    for theirs in (r for r in runs if r.tool == "aws_s3_sync"):
        started = time.monotonic()
        for _ in s3.get_paginator("list_objects_v2").paginate(Bucket=f"bench-dagtools-{theirs.files}", Prefix=PREFIX):
            pass
        listing = time.monotonic() - started
        print(f"; moto lists {theirs.files} keys in {listing:.2f} s", end="")
        caps.append(f"{theirs.seconds / (start + listing):.1f}x at N={theirs.files}")
    print(f" ({server.layer.delay * 1000:g} ms per request included)")
    print(f"Those floors alone cap the wall-time ratio at {', '.join(caps)}.")


def report(runs: list[Run]) -> None:
    header = f"{'tool':<16}{'files':>7}" + "".join(f"{k:>8}" for k in KINDS) + f"{'total':>8}{'seconds':>10}"
    print(header)
    for r in runs:
        counts = "".join(f"{r.requests.get(k, 0):>8}" for k in KINDS)
        print(f"{r.tool:<16}{r.files:>7}{counts}{sum(r.requests.values()):>8}{r.seconds:>10.2f}")
    print()
    for count in sorted({r.files for r in runs}):
        ours = next(r for r in runs if r.files == count and r.tool == "dagtools")
        theirs = next(r for r in runs if r.files == count and r.tool == "aws_s3_sync")
        print(
            f"N={count}: aws s3 sync sent {sum(theirs.requests.values()) / sum(ours.requests.values()):.0f}x the "
            f"requests ({theirs.requests['PUT']} PUTs vs {ours.requests['PUT']}) and took "
            f"{theirs.seconds / ours.seconds:.1f}x the wall time"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and size; the median is shown")
    args = parser.parse_args()
    for name, value in client_environment("unused").items():
        os.environ.setdefault(name, value)
    runs = []
    with S3Server() as server, tempfile.TemporaryDirectory(prefix="dagsync-bench-") as scratch:
        server.layer.delay = args.delay_ms / 1000
        os.environ["AWS_ENDPOINT_URL_S3"] = server.url
        s3 = boto3.client("s3")
        for count in args.files:
            for tool in ("dagtools", "aws_s3_sync"):
                print(f"measuring {tool} with {count} files ...", file=sys.stderr, flush=True)
                runs.append(measure(tool, count, server, s3, Path(scratch), args.repeat))
        print(f"\nFresh clone, 1 file changed, {args.delay_ms:g} ms per request, median of {args.repeat} runs:\n")
        report(runs)
        floors(server, s3, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
