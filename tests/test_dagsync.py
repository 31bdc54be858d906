"""The DAG sync against moto's S3 server over HTTP (with KMS-like ETags), through real boto3."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from dagtools.cli import main
from dagtools.sync.engine import DELETE_BATCH, RANGE_KEYS, DagSync
from dagtools.sync.source import scan_source
from tests.s3server import INTERNAL, S3Server

PREFIX = "dags/"
MANIFEST = "dags/.dagsync-manifest.json"


def write_dags(folder: Path, count: int, *, tag: str = "v1") -> dict[str, bytes]:
    files = {}
    for i in range(count):
        content = f"# dag {i} {tag}\nfrom airflow.sdk import dag\n".encode()
        path = folder / f"dag_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        files[path.name] = content
    return files


def sync(bucket: str, source: Path, *extra: str) -> int:
    return main(["sync", "--source", str(source), "--bucket", bucket, "--prefix", PREFIX, *extra])


def sync_json(bucket: str, source: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    code = sync(bucket, source, "--json", *extra)
    summary: dict[str, Any] = json.loads(capsys.readouterr().out)
    summary["exit_code"] = code
    return summary


def remote_files(s3: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def dags_in_bucket(s3: Any, bucket: str) -> dict[str, bytes]:
    return {k[len(PREFIX) :]: v for k, v in remote_files(s3, bucket, PREFIX).items() if k != MANIFEST}


def test_first_sync_uploads_all_and_second_sends_no_put(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_dags(tmp_path, 12)
    first = sync_json(bucket, tmp_path, capsys)
    assert (first["exit_code"], len(first["added"]), first["unchanged"]) == (0, 12, 0)
    assert dags_in_bucket(s3, bucket) == local

    server.layer.reset_counts()
    second = sync_json(bucket, tmp_path, capsys)
    assert (second["exit_code"], second["added"], second["changed"], second["unchanged"]) == (0, [], [], 12)
    assert server.layer.counts["PUT"] == 0
    assert server.layer.counts["DELETE"] == 0


def test_one_change_on_a_fresh_clone_costs_one_list_one_get_two_puts(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_dags(tmp_path, 30)
    assert sync(bucket, tmp_path) == 0
    future = time.time() + 3600
    for path in tmp_path.iterdir():  # a fresh clone: every mtime is new
        os.utime(path, (future, future))
    (tmp_path / "dag_0007.py").write_bytes(b"# changed\n")
    local["dag_0007.py"] = b"# changed\n"

    server.layer.reset_counts()
    summary = sync_json(bucket, tmp_path, capsys)
    assert summary["changed"] == ["dag_0007.py"]
    assert dict(server.layer.counts) == {"LIST": 1, "GET": 1, "PUT": 2}
    assert dags_in_bucket(s3, bucket) == local


def test_touched_mtimes_alone_upload_nothing(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dags(tmp_path, 8)
    assert sync(bucket, tmp_path) == 0
    for path in tmp_path.iterdir():
        path.touch()
    server.layer.reset_counts()
    assert sync_json(bucket, tmp_path, capsys)["unchanged"] == 8
    assert server.layer.counts["PUT"] == 0


def test_a_deleted_file_is_deleted_remotely(s3: Any, bucket: str, tmp_path: Path) -> None:
    local = write_dags(tmp_path, 8)
    assert sync(bucket, tmp_path) == 0
    (tmp_path / "dag_0003.py").unlink()
    del local["dag_0003.py"]
    assert sync(bucket, tmp_path) == 0
    assert dags_in_bucket(s3, bucket) == local
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST)["Body"].read())
    assert sorted(manifest["files"]) == sorted(local)


def test_an_object_changed_outside_the_tool_is_uploaded_again(
    s3: Any, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_dags(tmp_path, 4)
    assert sync(bucket, tmp_path) == 0
    s3.put_object(Bucket=bucket, Key="dags/dag_0002.py", Body=local["dag_0002.py"])  # same bytes, new ETag
    s3.put_object(Bucket=bucket, Key="dags/dag_0001.py", Body=b"# edited in the console\n")
    summary = sync_json(bucket, tmp_path, capsys)
    assert sorted(summary["changed"]) == ["dag_0001.py", "dag_0002.py"]
    assert dags_in_bucket(s3, bucket) == local


def test_etags_are_not_md5_behind_the_layer(s3: Any, bucket: str) -> None:
    """The layer must act like SSE-KMS, or the manifest's ETag check would prove nothing."""
    s3.put_object(Bucket=bucket, Key="dags/x.py", Body=b"x")
    md5 = '"' + hashlib.md5(b"x").hexdigest() + '"'  # noqa: S324 - comparing with S3's MD5 ETag
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["ETag"]
    assert listed != md5
    assert s3.head_object(Bucket=bucket, Key="dags/x.py")["ETag"] == listed


@pytest.mark.parametrize("make_source", ["missing", "empty", "only-ignored"])
def test_a_missing_or_empty_source_is_refused(
    s3: Any, bucket: str, tmp_path: Path, make_source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = write_dags(tmp_path / "before", 3)
    assert sync(bucket, tmp_path / "before") == 0
    source = tmp_path / "source"
    if make_source != "missing":
        source.mkdir()
    if make_source == "only-ignored":
        (source / "__pycache__").mkdir()
        (source / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    capsys.readouterr()
    assert sync(bucket, source) == 2
    assert "refusing to sync" in capsys.readouterr().err
    assert dags_in_bucket(s3, bucket) == existing


def test_nothing_outside_the_prefix_is_listed_changed_or_deleted(s3: Any, bucket: str, tmp_path: Path) -> None:
    neighbours = {
        "requirements.txt": b"boto3\n",
        "plugins.zip": b"PK",
        "startup.sh": b"#!/bin/sh\n",
        "dags-archive/old.py": b"# not under dags/\n",
    }
    for key, body in neighbours.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    write_dags(tmp_path, 3)
    assert sync(bucket, tmp_path) == 0
    for path in list(tmp_path.iterdir())[:2]:
        path.unlink()
    assert sync(bucket, tmp_path) == 0
    everything = remote_files(s3, bucket)
    assert {k: v for k, v in everything.items() if not k.startswith(PREFIX)} == neighbours


def test_mass_delete_is_refused_unless_allowed(
    s3: Any, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_dags(tmp_path, 10)
    assert sync(bucket, tmp_path) == 0
    for name in sorted(local)[:6]:
        (tmp_path / name).unlink()
    capsys.readouterr()
    assert sync(bucket, tmp_path) == 2
    assert "would delete 6 of the 10 DAG files" in capsys.readouterr().err
    assert len(dags_in_bucket(s3, bucket)) == 10
    assert sync(bucket, tmp_path, "--allow-mass-delete") == 0
    assert len(dags_in_bucket(s3, bucket)) == 4


def test_deleting_half_or_a_few_is_allowed(s3: Any, bucket: str, tmp_path: Path) -> None:
    local = write_dags(tmp_path, 10)
    assert sync(bucket, tmp_path) == 0
    for name in sorted(local)[:5]:
        (tmp_path / name).unlink()
    assert sync(bucket, tmp_path) == 0
    assert len(dags_in_bucket(s3, bucket)) == 5


def test_seed_only_does_nothing_on_a_seeded_prefix(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dags(tmp_path / "newer", 3, tag="newer")
    older = write_dags(tmp_path / "older", 3, tag="older")
    seeded = sync_json(bucket, tmp_path / "newer", capsys, "--seed-only")
    assert (seeded["skipped"], len(seeded["added"])) == (False, 3)
    newer = dags_in_bucket(s3, bucket)

    server.layer.reset_counts()
    again = sync_json(bucket, tmp_path / "older", capsys, "--seed-only")
    assert again["skipped"] is True
    assert server.layer.counts["PUT"] == 0
    assert dags_in_bucket(s3, bucket) == newer != older


def test_interrupted_run_converges_on_the_next_run(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 failing for good (retries spent): the manifest records the 7 that landed, the next run sends the 13 left."""
    local = write_dags(tmp_path, 20)
    server.layer.puts_through = 0
    server.layer.fail_puts_after = 7
    server.layer.fail_puts_with = ("500 Internal Server Error", INTERNAL)
    capsys.readouterr()
    assert sync(bucket, tmp_path, "--concurrency", "1") == 1
    assert "sync incomplete (a temporary failure), run it again to finish: 13 of 20 upload(s) failed" in (
        capsys.readouterr().err
    )
    assert len(dags_in_bucket(s3, bucket)) == 7
    recorded = json.loads(remote_files(s3, bucket)[MANIFEST])["files"]
    assert sorted(recorded) == sorted(dags_in_bucket(s3, bucket))

    server.layer.fail_puts_after = None
    server.layer.reset_counts()
    assert sync(bucket, tmp_path) == 0
    assert server.layer.counts["PUT"] == 13 + 1  # the rest, and the manifest
    assert dags_in_bucket(s3, bucket) == local
    server.layer.reset_counts()
    assert sync(bucket, tmp_path) == 0
    assert server.layer.counts["PUT"] == 0


def test_a_permanent_error_does_not_ask_for_another_run(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dags(tmp_path, 3)
    server.layer.puts_through = 0
    server.layer.fail_puts_after = 0
    capsys.readouterr()
    assert sync(bucket, tmp_path, "--json") == 1
    captured = capsys.readouterr()
    assert "running it again will not help until this is fixed" in captured.err
    assert "AccessDenied" in captured.err and "run it again to finish" not in captured.err
    assert json.loads(captured.out)["permanent"] is True


def test_throttling_is_retried(s3: Any, bucket: str, server: S3Server, tmp_path: Path) -> None:
    local = write_dags(tmp_path, 5)
    server.layer.slowdowns_served = 0
    server.layer.slowdowns = 2
    assert sync(bucket, tmp_path, "--concurrency", "1") == 0
    assert server.layer.slowdowns_served == 2
    assert dags_in_bucket(s3, bucket) == local


def test_dry_run_changes_nothing(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = write_dags(tmp_path, 4)
    assert sync(bucket, tmp_path) == 0
    (tmp_path / "dag_0000.py").write_bytes(b"# new content\n")
    (tmp_path / "dag_0001.py").unlink()
    (tmp_path / "brand_new.py").write_bytes(b"# added\n")
    server.layer.reset_counts()
    capsys.readouterr()
    assert sync(bucket, tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Plan for s3://" in out and "1 added, 1 changed, 1 deleted, 2 unchanged" in out
    assert "  + brand_new.py\n  ~ dag_0000.py\n  - dag_0001.py" in out
    assert set(server.layer.counts) <= {"LIST", "GET"}
    assert dags_in_bucket(s3, bucket) == local


def test_ignored_files_are_skipped_but_airflowignore_is_uploaded(s3: Any, bucket: str, tmp_path: Path) -> None:
    write_dags(tmp_path, 2)
    (tmp_path / ".airflowignore").write_text("scratch/\n")
    (tmp_path / ".syncignore").write_text("# not for the bucket\n*.md\nscratch\nlib/*_test.py\nlib/fixtures/\n")
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / "lib" / "fixtures").mkdir(parents=True)
    (tmp_path / "lib" / "fixtures" / "rows.csv").write_text("a,b\n")
    (tmp_path / "lib" / "helpers_test.py").write_text("def test(): ...\n")
    (tmp_path / "lib" / "deep").mkdir()
    (tmp_path / "lib" / "deep" / "x_test.py").write_text("x = 1\n")  # as in .gitignore, `*` stops at `/`
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "try.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "dag_0000.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "lib" / "helpers.py").write_text("def f(): ...\n")
    assert sync(bucket, tmp_path) == 0
    assert sorted(dags_in_bucket(s3, bucket)) == [
        ".airflowignore",
        "dag_0000.py",
        "dag_0001.py",
        "lib/deep/x_test.py",
        "lib/helpers.py",
    ]


def test_expected_bucket_owner_is_sent_on_every_request(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dags(tmp_path, 3)
    capsys.readouterr()
    assert sync(bucket, tmp_path, "--expected-bucket-owner", "999999999999") == 1
    assert "AccessDenied" in capsys.readouterr().err
    server.layer.reset_counts()
    assert sync(bucket, tmp_path, "--expected-bucket-owner", "123456789012") == 0
    assert dict(server.layer.owner_headers) == {"123456789012": sum(server.layer.counts.values())}


def test_an_empty_prefix_is_refused(bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dags(tmp_path, 1)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["sync", "--source", str(tmp_path), "--bucket", bucket, "--prefix", "/"])
    assert exited.value.code == 2
    assert "argument --prefix: '/' is not allowed; must be a key prefix such as dags/ (never the whole bucket)" in (
        capsys.readouterr().err
    )


def test_deletes_go_in_batches(s3: Any, bucket: str, server: S3Server, tmp_path: Path) -> None:
    """In batches of DELETE_BATCH (S3's limit of 1,000 keys per DeleteObjects), here 4."""
    local = write_dags(tmp_path, 12)
    assert sync(bucket, tmp_path) == 0
    for name in sorted(local)[:10]:
        (tmp_path / name).unlink()
    syncer = DagSync(s3, bucket=bucket, prefix=PREFIX, delete_batch=4)
    files, rules = scan_source(tmp_path)
    remote = syncer.read_remote(rules)
    plan = syncer.plan(files, remote, allow_mass_delete=True)
    server.layer.reset_counts()
    syncer.apply(plan, files, remote)
    assert server.layer.counts["DELETE"] == 3
    assert sorted(dags_in_bucket(s3, bucket)) == sorted(local)[10:]
    assert DELETE_BATCH == 1000


def test_an_environment_key_names_the_bucket_and_its_owner(
    s3: Any,
    bucket: str,
    server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--environment dev` takes the bucket and the expected owner from config, as a DAG author would run it."""
    from config import DEFAULT_CONFIG_PATH

    config = tmp_path / "environments.toml"
    text = DEFAULT_CONFIG_PATH.read_text().replace('account = "111111111111"', 'account = "123456789012"', 1)
    config.write_text(
        text.replace('environment_name = "mwaa-dev"', f'environment_name = "mwaa-dev"\nbucket_name = "{bucket}"', 1)
    )
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    write_dags(tmp_path / "dags", 2)
    server.layer.reset_counts()
    capsys.readouterr()
    assert main(["sync", "--source", str(tmp_path / "dags"), "--environment", "dev", "--dry-run", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["bucket"], summary["prefix"], summary["added"], summary["ok"]) == (
        bucket,
        "dags/",
        ["dag_0000.py", "dag_0001.py"],
        True,
    )
    assert set(server.layer.owner_headers) == {"123456789012"}
    assert server.layer.counts["PUT"] == 0


def test_ranges_listed_side_by_side_still_see_every_object(s3: Any, bucket: str, tmp_path: Path) -> None:
    """With a manifest of 25 keys and ranges of 10 (RANGE_KEYS, 900, on S3's pages of 1,000) the prefix
    is listed as three ranges (StartAfter); objects the manifest does not know, before, between and
    after its keys, and one edited outside, are all seen, and each range takes one page."""
    write_dags(tmp_path, 25)
    assert sync(bucket, tmp_path) == 0
    for stray in ("dag_0000a.py", "dag_0015a.py", "zz_last.py"):
        s3.put_object(Bucket=bucket, Key=PREFIX + stray, Body=b"# stray\n")
    s3.put_object(Bucket=bucket, Key=PREFIX + "dag_0020.py", Body=b"# edited in the console\n")
    syncer = DagSync(s3, bucket=bucket, prefix=PREFIX, range_keys=10)
    files, rules = scan_source(tmp_path)
    remote = syncer.read_remote(rules)
    plan = syncer.plan(files, remote)
    assert plan.deleted == ["dag_0000a.py", "dag_0015a.py", "zz_last.py"]
    assert plan.changed == ["dag_0020.py"] and plan.added == []
    assert len(plan.unchanged) == 24
    assert remote.list_pages == 3
    assert RANGE_KEYS == 900
