"""The DAG sync under faults: links out of the source, damaged manifests, concurrent runs, signals, bad options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagtools.cli import main
from tests.conftest import ROOT
from tests.s3server import S3Server, client_environment
from tests.test_dagsync import MANIFEST, dags_in_bucket, remote_files, sync, sync_json, write_dags


def test_a_link_out_of_the_source_is_refused_and_named(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "dags"
    write_dags(source, 2)
    secret = tmp_path / "credentials"
    secret.write_text("[default]\naws_secret_access_key = do-not-publish\n")
    (source / "team").mkdir()
    (source / "team" / "settings.py").symlink_to(secret)
    (source / "outside").symlink_to(tmp_path, target_is_directory=True)
    (source / "alias.py").symlink_to(source / "dag_0000.py")  # inside the source: fine
    server.layer.reset_counts()
    capsys.readouterr()
    assert sync(bucket, source) == 2
    err = capsys.readouterr().err
    assert f"2 link(s) in {source} lead outside it; refusing to publish what they point to" in err
    assert f"outside -> {tmp_path}" in err and f"team/settings.py -> {secret}" in err
    assert sum(server.layer.counts.values()) == 0

    (source / "team" / "settings.py").unlink()
    (source / "outside").unlink()
    assert sync(bucket, source) == 0
    assert dags_in_bucket(s3, bucket)["alias.py"] == (source / "dag_0000.py").read_bytes()


@pytest.mark.parametrize(
    "manifest",
    [b'{"files": []}', b'{"files": null}', b"[]", b'"files"', b'{"files": {"a.py": "x"}}', b"\xff\xfe", b""],
    ids=["files-list", "files-null", "list", "string", "entry-string", "not-utf8", "empty"],
)
def test_any_unreadable_manifest_only_costs_reuploads(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, manifest: bytes
) -> None:
    local = write_dags(tmp_path, 3)
    assert sync(bucket, tmp_path) == 0
    s3.put_object(Bucket=bucket, Key=MANIFEST, Body=manifest)
    server.layer.reset_counts()
    assert sync(bucket, tmp_path) == 0
    assert server.layer.counts["PUT"] == 3 + 1
    assert dags_in_bucket(s3, bucket) == local
    assert sorted(json.loads(remote_files(s3, bucket)[MANIFEST])["files"]) == sorted(local)


def run_sync_process(source: Path, bucket: str, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dagtools", "sync", "--source", str(source), "--bucket", bucket, *extra],
        cwd=ROOT,
        env={**os.environ, **client_environment(url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("seeded", [False, True], ids=["first-sync", "later-sync"])
def test_a_second_sync_running_at_the_same_time_is_detected(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], seeded: bool
) -> None:
    """While one sync uploads, another (of a different commit) finishes: the first must not write its manifest."""
    older, newer = tmp_path / "older", tmp_path / "newer"
    write_dags(older, 6, tag="older")
    newer_files = write_dags(newer, 6, tag="newer")
    if seeded:
        write_dags(tmp_path / "seed", 6, tag="seed")
        assert sync(bucket, tmp_path / "seed") == 0

    finished: list[tuple[int, str]] = []

    def other_sync_finishes(answered: int) -> None:
        if answered == 1:
            server.layer.after_put = None
            other = run_sync_process(newer, bucket, server.url)
            out, err = other.communicate(timeout=60)
            finished.append((other.returncode, out + err))

    server.layer.after_put = other_sync_finishes
    capsys.readouterr()
    assert sync(bucket, older, "--concurrency", "1") == 1, finished
    assert [code for code, _ in finished] == [0], finished
    err = capsys.readouterr().err
    assert f"error: another sync wrote s3://{bucket}/{MANIFEST} while this one ran" in err
    assert "run the sync again once the other has finished" in err
    # The newer run's manifest stands; running the newer commit again repairs what the older run overwrote.
    assert sync(bucket, newer) == 0
    assert dags_in_bucket(s3, bucket) == newer_files


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_sync_promptly_and_keeps_what_was_uploaded(
    s3: Any, bucket: str, server: S3Server, tmp_path: Path, stop: signal.Signals
) -> None:
    local = write_dags(tmp_path, 100)
    server.layer.delay = 0.05  # slow enough that most uploads are still pending at the signal
    process: list[subprocess.Popen[str]] = []

    def stop_after_twenty(answered: int) -> None:
        if answered == 20:
            process[0].send_signal(stop)

    server.layer.reset_counts()
    server.layer.after_put = stop_after_twenty
    process.append(run_sync_process(tmp_path, bucket, server.url, "--concurrency", "4"))
    _, err = process[0].communicate(timeout=120)
    assert process[0].returncode == 128 + stop
    assert "Traceback" not in err
    assert f"stopped by {stop.name}: " in err and "recorded in the manifest, nothing deleted" in err
    landed = dags_in_bucket(s3, bucket)
    # Pending uploads were cancelled: those in flight finished, and the few workers started before the
    # main thread handled the signal; never the 80 that were still queued.
    assert 20 <= len(landed) <= 20 + 3 * 4
    recorded = json.loads(remote_files(s3, bucket)[MANIFEST])["files"]
    assert sorted(recorded) == sorted(landed)

    server.layer.after_put = None
    server.layer.delay = 0.0
    server.layer.reset_counts()
    assert sync(bucket, tmp_path) == 0
    assert server.layer.counts["PUT"] == 100 - len(landed) + 1
    assert dags_in_bucket(s3, bucket) == local


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--concurrency", "0", "must be a whole number from 1 to 64"),
        ("--concurrency", "-3", "must be a whole number from 1 to 64"),
        ("--concurrency", "many", "must be a whole number from 1 to 64"),
        ("--concurrency", "\u0663", "must be a whole number from 1 to 64"),
        ("--concurrency", "500", "must be a whole number from 1 to 64"),
        ("--bucket", "My_Bucket", "must be an S3 bucket name"),
        ("--expected-bucket-owner", "1234", "must be 12 digits"),
        ("--role-arn", "dag-sync", "must be an IAM role ARN"),
        ("--region", "eu-west-9", "must be an AWS region code such as eu-west-1"),
        ("--prefix", "//", "must be a key prefix such as dags/ (never the whole bucket)"),
    ],
)
def test_an_invalid_option_is_refused_before_any_request(
    bucket: str, server: S3Server, tmp_path: Path, option: str, value: str, allowed: str
) -> None:
    write_dags(tmp_path, 1)
    server.layer.reset_counts()
    args = ["--bucket", bucket] if option != "--bucket" else []
    result = subprocess.run(
        [sys.executable, "-m", "dagtools", "sync", "--source", str(tmp_path), *args, f"{option}={value}"],
        cwd=ROOT,
        env={**os.environ, **client_environment(server.url)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"python -m dagtools sync: error: argument {option}: {value!r} is not allowed; {allowed}"
    )
    assert sum(server.layer.counts.values()) == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AWS_MAX_ATTEMPTS", "lots", "AWS_MAX_ATTEMPTS = 'lots' is not allowed; must be a whole number from 1 to 20"),
        ("AWS_RETRY_MODE", "eager", "AWS_RETRY_MODE = 'eager' is not allowed; must be one of legacy, standard"),
    ],
)
def test_invalid_retry_settings_are_refused_before_any_request(
    bucket: str,
    server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    write_dags(tmp_path, 1)
    monkeypatch.setenv(variable, value)
    server.layer.reset_counts()
    capsys.readouterr()
    assert sync(bucket, tmp_path) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert sum(server.layer.counts.values()) == 0


def test_a_key_longer_than_s3_allows_is_refused_before_any_request(
    bucket: str, server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dags(tmp_path, 1)
    deep = tmp_path / ("d" * 210) / ("e" * 210) / ("f" * 210) / ("g" * 210)
    deep.mkdir(parents=True)
    (deep / ("h" * 210 + ".py")).write_text("# too deep\n")
    server.layer.reset_counts()
    capsys.readouterr()
    summary = sync_json(bucket, tmp_path, capsys)
    assert summary["exit_code"] == 2
    assert "1 path(s) make S3 keys longer than 1024 bytes, which S3 refuses; shorten them: dddd" in summary["error"]
    assert "run it again" not in summary["error"]
    assert sum(server.layer.counts.values()) == 0


@pytest.mark.parametrize(("value", "shown"), [("0", "'0'"), ("soon", "'soon'")])
def test_an_invalid_parse_budget_is_refused(
    value: str, shown: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--parse-budget", value])
    assert f"argument --parse-budget: {shown} is not allowed; must be a number of seconds" in capsys.readouterr().err
    monkeypatch.setenv("DAGCHECK_PARSE_BUDGET", value)
    assert main(["check", "--source", str(ROOT / "dags")]) == 2
    assert capsys.readouterr().err.startswith(f"error: DAGCHECK_PARSE_BUDGET = {shown} is not allowed")
