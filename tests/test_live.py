"""After a sync: the wait for the live environment, `dagtools status`, and the not-yet-deployed case.

S3 is moto's server; MWAA's InvokeRestApi is tests/mwaa_server.py, a local HTTP server answering in
the documented shapes, behind which a stand-in DAG processor parses what the bucket holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagtools.cli import airflow_api, main
from dagtools.live import wait_until_live
from tests.mwaa_server import FakeAirflow, MwaaServer
from tests.s3server import S3Server

ENVIRONMENT = "mwaa-dev"
DAG = '''"""A DAG."""
from airflow.sdk import dag


@dag(schedule=None)
def {name}() -> None:
    pass


{name}()
'''


@pytest.fixture
def airflow(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAirflow]:
    fake = FakeAirflow(s3, bucket, ENVIRONMENT)
    with MwaaServer(fake) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_MWAA", running.url)
        yield fake


def write_dags(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def sync(source: Path, bucket: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["sync", "--source", str(source), "--bucket", bucket, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def live_options(timeout: int = 30) -> list[str]:
    return ["--live-environment", ENVIRONMENT, "--live-timeout", str(timeout), "--live-interval", "0.05"]


def test_a_sync_waits_until_airflow_serves_the_new_files(
    airflow: FakeAirflow, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_dags(tmp_path / "dags", **{"orders.py": DAG.format(name="orders"), "helper.py": "X = 1\n"})
    airflow.parse_on_request = 4  # the processor's pass comes after two rounds of questions
    code, summary = sync(source, bucket, capsys, *live_options())
    assert code == 0, summary
    assert summary["live"] == ["orders.py"]  # the helper defines no DAG: nothing to wait for
    assert summary["import_errors"] == {} and summary["not_parsed"] == []
    assert airflow.requests.count("/importErrors") >= 2 and "/dagSources/orders" in airflow.requests

    airflow.requests.clear()
    (source / "orders.py").write_text(DAG.format(name="orders") + "# changed\n")
    airflow.parse_on_request = 1
    code, summary = sync(source, bucket, capsys, *live_options())
    assert code == 0 and summary["live"] == ["orders.py"], summary


def test_old_source_is_not_taken_for_the_new(
    airflow: FakeAirflow, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until the processor parses again, Airflow serves the previous content: that is not live yet."""
    source = write_dags(tmp_path / "dags", **{"orders.py": DAG.format(name="orders")})
    airflow.parse_on_request = 1
    assert sync(source, bucket, capsys, *live_options())[0] == 0
    (source / "orders.py").write_text(DAG.format(name="orders") + "# changed\n")
    airflow.requests.clear()
    airflow.parse_on_request = None  # the processor never comes round
    code, summary = sync(source, bucket, capsys, *live_options(timeout=1))
    assert code == 1
    assert summary["not_parsed"] == ["orders.py"] and "did not parse orders.py within 1 s" in summary["error"]


def test_an_import_error_in_the_environment_fails_the_step_with_its_traceback(
    airflow: FakeAirflow, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = DAG.format(name="broken") + 'raise RuntimeError("no such table")\n'
    source = write_dags(tmp_path / "dags", **{"ok.py": DAG.format(name="ok"), "broken.py": broken})
    airflow.parse_on_request = 1
    code, summary = sync(source, bucket, capsys, *live_options())
    assert code == 1
    assert summary["live"] == ["ok.py"]
    assert 'RuntimeError("no such table")' in summary["import_errors"]["broken.py"]
    assert "could not import 1 file(s): broken.py" in summary["error"]


def test_an_environment_that_cannot_answer_is_asked_again_until_the_timeout(
    airflow: FakeAirflow, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While MWAA cannot answer (here: no such environment; in AWS, a web server restarting during an
    update), the step keeps asking, and at the timeout names the last answer."""
    source = write_dags(tmp_path / "dags", **{"orders.py": DAG.format(name="orders")})
    options = ["--live-environment", "mwaa-elsewhere", "--live-timeout", "1", "--live-interval", "0.2"]
    code, summary = sync(source, bucket, capsys, *options)
    assert code == 1 and summary["not_parsed"] == ["orders.py"]
    assert "the last answer was: InvokeRestApi GET /importErrors on mwaa-elsewhere" in summary["error"]
    assert "Environment mwaa-elsewhere not found" in summary["error"]
    assert airflow.requests == []  # the server refused each question before Airflow saw it


def test_waiting_gives_up_at_its_timeout(airflow: FakeAirflow, bucket: str, s3: Any) -> None:
    """A processor that never comes round: the wait ends at the timeout, naming what is pending."""
    import boto3

    clock = [1_000_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    result = wait_until_live(
        airflow_api(boto3.session.Session(), ENVIRONMENT),
        {"orders.py": DAG.format(name="orders").encode()},
        synced_at=clock[0],
        timeout=60,
        interval=10,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert not result.ok and result.pending == ["orders.py"] and result.live == []
    assert slept == [10] * 6 and result.seconds == 60  # asks at 0, 10, ... 60 s, never past the timeout


def test_status_shows_the_commit_the_drift_and_the_import_errors(
    airflow: FakeAirflow,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = write_dags(
        tmp_path / "dags",
        **{"orders.py": DAG.format(name="orders"), "broken.py": "raise ValueError('bad')\n"},
    )
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert main(["sync", "--source", str(source), "--bucket", bucket, "--commit", commit]) == 0
    s3.put_object(Bucket=bucket, Key="dags/orders.py", Body=b"# edited in the console\n")
    airflow.parse_bucket()
    config = tmp_path / "environments.toml"
    example = (Path(__file__).parents[1] / "config" / "environments.toml").read_text()
    dev = (
        f'account = "123456789012"\nregion = "eu-west-1"\nenvironment_name = "{ENVIRONMENT}"\nbucket_name = "{bucket}"'
    )
    config.write_text(
        example.replace('account = "111111111111"\nregion = "eu-west-1"\nenvironment_name = "mwaa-dev"', dev)
    )
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    capsys.readouterr()
    assert main(["status", "--environment", "dev", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["commit"] == commit
    assert report["edited"] == ["orders.py"] and report["missing"] == [] and report["unrecorded"] == []
    assert list(report["import_errors"]) == ["broken.py"]
    assert main(["status", "--environment", "dev"]) == 0
    text = capsys.readouterr().out
    assert f"DAGs from commit: {commit}" in text and "drift (edited outside the sync): orders.py" in text


def test_an_environment_not_deployed_yet_is_a_green_run_with_nothing_synced(
    server: S3Server,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", server.url)
    source = write_dags(tmp_path / "dags", **{"orders.py": DAG.format(name="orders")})
    parameter = f"/{bucket}/deployed/dev"  # moto's state outlives one server: a name of this test's own
    code, summary = sync(source, bucket, capsys, "--deployed-parameter", parameter)
    assert code == 0 and summary["skipped"] is True and summary["deployed"] is False
    assert "KeyCount" in s3.list_objects_v2(Bucket=bucket) and s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    boto3.client("ssm").put_parameter(Name=parameter, Value="deployed", Type="String")
    code, summary = sync(source, bucket, capsys, "--deployed-parameter", parameter)
    assert code == 0 and summary["added"] == ["orders.py"]
