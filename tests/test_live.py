"""After a sync, the wait until the environment serves the new DAGs: against the real Airflow.

Each environment is the real Airflow of its version with MWAA's packages (tests/airflow_emulation.py):
its API server and DAG processor, MWAA's auth manager and a Viewer user, a DAG folder that a copier
fills from the environment's bucket on moto's S3 server as MWAA does, with the intervals scaled down
(copy every 2 s instead of 30 s, new files found every 3 s, re-parse after 5 s). In front of it,
MWAA's InvokeRestApi as its API documents it (tests/mwaa_front.py), and for a private web server
Lambda's Invoke running the DAG reader function (tests/lambda_front.py). The client under test talks to
both through botocore, as in CodeBuild.

dev runs 3.3.1 with a public web server, prod 3.2.1 with a private one, as in the example config; the
cases where Airflow's own behaviour decides run on both versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagtools.check.airflow_venv import CheckTarget, airflow_python
from dagtools.check.command import dag_index, probe
from dagtools.cli import main
from dagtools.live.wait import PATH_MAX, InvokeRestApi, parse_time, wait_until_live
from tests.airflow_emulation import AirflowEmulation
from tests.lambda_front import Function, LambdaFront
from tests.mwaa_front import FrontEnvironment, MwaaFront, TokenBucket
from tests.s3server import S3Server, client_environment

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parents[1]
COPY_INTERVAL = 2.0
SCALED_OPTIONS = {
    "dag_processor.refresh_interval": "3",
    "dag_processor.min_file_process_interval": "5",
    "dag_processor.bundle_refresh_check_interval": "1",
}
VERSIONS = {"3.3.1": "dev", "3.2.1": "prod"}
LIVE = ["--live-interval", "0.5", "--copy-interval", str(COPY_INTERVAL)]
DAG = '''"""A DAG."""
import pendulum
from airflow.sdk import dag


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), tags=["t"])
def build() -> None:
    pass


build()
'''
BROKEN = DAG + 'raise RuntimeError("no such table: {dag_id}")\n'
HELPER = '''"""Builds nothing: a helper whose text mentions dag( without defining one."""


def make_dag(name: str) -> str:
    return f"dag({name})"
'''


@dataclass
class Emulated:
    """One emulated environment of a test: its version, bucket, name in the front and Airflow."""

    version: str
    bucket: str
    name: str
    airflow: AirflowEmulation
    front: MwaaFront
    lambdas: LambdaFront
    s3: Any


@pytest.fixture(scope="session")
def live_s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="session")
def fronts() -> Iterator[tuple[MwaaFront, LambdaFront]]:
    with MwaaFront() as mwaa, LambdaFront() as lambdas:
        yield mwaa, lambdas


@pytest.fixture(scope="module")
def emulations(
    live_s3: S3Server, fronts: tuple[MwaaFront, LambdaFront], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Emulated]]:
    """Each Airflow version's emulation, started on first use and kept until this module's tests end (a
    parametrized fixture would stop one to start the other whenever the tests alternate); stopped then,
    it no longer takes CPU from the rest of the run."""
    import boto3

    with contextlib.ExitStack() as stack:

        class Started(dict[str, Emulated]):
            def __missing__(self, version: str) -> Emulated:
                s3 = boto3.client("s3", endpoint_url=live_s3.url, **_credentials())
                bucket = f"mwaa-emulated-{version.replace('.', '-')}"
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
                airflow = stack.enter_context(
                    AirflowEmulation(
                        version,
                        tmp_path_factory.mktemp(f"airflow-{version}"),
                        s3=s3,
                        bucket=bucket,
                        options=SCALED_OPTIONS,
                        copy_interval=COPY_INTERVAL,
                    )
                )
                name = f"mwaa-{VERSIONS[version]}-emulated"
                fronts[0].add(FrontEnvironment(name, airflow))
                self[version] = Emulated(version, bucket, name, airflow, fronts[0], fronts[1], s3)
                return self[version]

        yield Started()


@pytest.fixture(params=list(VERSIONS))
def emulation(request: pytest.FixtureRequest, emulations: dict[str, Emulated]) -> Emulated:
    """The real Airflow of one version (dev's 3.3.1, prod's 3.2.1), its bucket copied in every 2 s."""
    return emulations[request.param]


@pytest.fixture
def env(emulation: Emulated, live_s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Emulated:
    """The environment with an empty dags/ (what earlier tests synced is removed), and this process's
    AWS clients pointed at the local S3, MWAA and Lambda."""
    for key, value in client_environment(live_s3.url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_MWAA", emulation.front.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", emulation.lambdas.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", live_s3.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEPIPELINE", live_s3.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", live_s3.url)
    listed = emulation.s3.list_objects_v2(Bucket=emulation.bucket).get("Contents", [])
    if listed:
        emulation.s3.delete_objects(Bucket=emulation.bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    emulation.front.throttle = None
    return emulation


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "eu-west-1"}


def unique(prefix: str) -> str:
    """A DAG id no earlier test used: Airflow's database outlives each test."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def index_of(folder: Path, where: Path, dags: dict[str, list[str]], broken: tuple[str, ...] = ()) -> Path:
    """The DAG check's index for `folder`, as `dag_index` writes it, for a test that states what the
    check found (the real check writes one in test_the_real_check_tells_the_wait_what_to_wait_for)."""
    files = {
        path: {
            "sha256": hashlib.sha256((folder / path).read_bytes()).hexdigest(),
            "dag_ids": sorted(ids),
            "imports": path not in broken,
        }
        for path, ids in dags.items()
    }
    where.write_text(json.dumps({"version": 1, "environments": {"emulated": {"files": files, "ignored": []}}}))
    return where


def sync(
    env: Emulated, source: Path, index: Path, capsys: pytest.CaptureFixture[str], *extra: str, timeout: int = 60
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(
        [
            "sync", "--source", str(source), "--bucket", env.bucket, "--json", "--allow-mass-delete",
            "--live-environment", env.name, "--dag-index", str(index), "--live-timeout", str(timeout),
            *LIVE, *extra,
        ]
    )  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_the_real_check_tells_the_wait_what_to_wait_for(tmp_path: Path) -> None:
    """The index comes from Airflow's own parse: helpers and ignored files define no DAG to wait for."""
    source = write(
        tmp_path / "dags",
        {
            "orders.py": DAG.format(dag_id="orders"),
            "team_a/dags/orders.py": DAG.format(dag_id="team_a_orders"),
            "helpers.py": HELPER,
            "scratch.py": BROKEN.format(dag_id="scratch"),
            ".airflowignore": "scratch\\.py\n",
        },
    )
    target = CheckTarget("3.3.1", None, None, ("emulated",))
    index = dag_index(source, [(target, probe(airflow_python(target), source, 5.0))])["environments"]["emulated"]
    assert {path: entry["dag_ids"] for path, entry in index["files"].items()} == {
        "orders.py": ["orders"],
        "team_a/dags/orders.py": ["team_a_orders"],
        "helpers.py": [],
    }
    assert index["ignored"] == ["scratch.py"]
    assert index["files"]["orders.py"]["sha256"] == hashlib.sha256((source / "orders.py").read_bytes()).hexdigest()


def test_new_and_changed_files_go_live_whatever_their_path_id_or_line_endings(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """New files, then the same files changed: a file under a dags/ subfolder, CRLF line endings, a DAG id of
    250 characters (too long for InvokeRestApi's Path) and a zipped DAG; the helper and the ignored file are
    not waited for."""
    plain, nested, crlf, zipped = unique("plain"), unique("nested"), unique("crlf"), unique("zipped")
    long_id = unique("long").ljust(250, "x")
    assert len("/dagSources/" + long_id) > PATH_MAX

    def files(mark: str) -> dict[str, str | bytes]:
        return {
            "plain.py": DAG.format(dag_id=plain) + mark,
            "team_a/dags/orders.py": DAG.format(dag_id=nested) + mark,
            "windows.py": (DAG.format(dag_id=crlf) + mark).replace("\n", "\r\n").encode(),
            "long.py": DAG.format(dag_id=long_id) + mark,
            "packed.zip": _zip({"packed_dag.py": DAG.format(dag_id=zipped) + mark}),
            "helpers.py": HELPER + mark,
            "scratch.py": BROKEN.format(dag_id="never_parsed") + mark,
            ".airflowignore": "scratch\\.py\n",
        }

    dags = {"plain.py": [plain], "team_a/dags/orders.py": [nested], "windows.py": [crlf], "long.py": [long_id]}
    dags |= {"packed.zip": [zipped], "helpers.py": []}
    waited = sorted(set(dags) - {"helpers.py"})
    for mark in ("", "# changed\n"):
        source = write(tmp_path / "dags", files(mark))
        index = index_of(source, tmp_path / "index.json", dags)
        index.write_text(index.read_text().replace('"ignored": []', '"ignored": ["scratch.py"]'))
        code, summary = sync(env, source, index, capsys)
        assert code == 0, summary
        assert sorted(summary["live"]) == waited and summary["not_parsed"] == [], summary
        assert summary["live_most_calls_in_a_round"] <= 20
    served = env.airflow.request("GET", "/dagSources/" + crlf, "", None, 10)[1]["content"]
    assert "\r" not in served and served.endswith("# changed\n")  # what the wait compared against


def test_an_import_error_fails_the_step_and_its_fix_goes_live(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until MWAA copies the fix, Airflow re-parses the broken copy and rewrites its error's timestamp:
    that error must not be taken for the fix's."""
    dag_id = unique("fixed")
    source = write(tmp_path / "dags", {"orders.py": BROKEN.format(dag_id=dag_id)})
    code, summary = sync(env, source, index_of(source, tmp_path / "i.json", {"orders.py": []}, ("orders.py",)), capsys)
    assert code == 1
    assert f"RuntimeError: no such table: {dag_id}" in summary["import_errors"]["orders.py"]
    assert "could not import 1 file(s): orders.py" in summary["error"]

    write(source, {"orders.py": DAG.format(dag_id=dag_id)})
    index = index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]})
    with old_copy_parsed_again_before_the_copy(env, "dags/orders.py"):
        code, summary = sync(env, source, index, capsys)
    assert code == 0, summary
    assert summary["live"] == ["orders.py"] and summary["import_errors"] == {}


@contextlib.contextmanager
def old_copy_parsed_again_before_the_copy(env: Emulated, key: str) -> Iterator[None]:
    """MWAA's copy waits until Airflow has re-parsed the old, broken copy after the fix was uploaded: the
    order a real environment meets every other time (both happen every 30 s), made certain here. The
    re-parse comes within min_file_process_interval (5 s), before the copy is due at the latest (2 s copy
    interval + 5 s of slack): the hold never makes MWAA later than it can be."""
    copier = env.airflow.copier
    copier.held.set()
    uploaded = threading.Event()

    def release() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            head = env.s3.list_objects_v2(Bucket=env.bucket, Prefix=key).get("Contents", [])
            if head and head[0]["ETag"] != copier.etags.get(key[len("dags/") :]):
                uploaded.set()
                break
            time.sleep(0.2)
        after = time.time()
        while time.monotonic() < deadline:
            errors = env.airflow.request("GET", "/importErrors", "", None, 10)[1]["import_errors"]
            if any(e["filename"] == key[len("dags/") :] and parse_time(e["timestamp"]) > after for e in errors):
                break
            time.sleep(0.2)
        copier.held.clear()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    try:
        yield
    finally:
        releaser.join()
        copier.held.clear()
    assert uploaded.is_set()


def test_a_broken_change_to_a_working_file_fails(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_id = unique("breaks")
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id=dag_id)})
    assert sync(env, source, index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]}), capsys)[0] == 0
    write(source, {"orders.py": BROKEN.format(dag_id=dag_id)})
    code, summary = sync(env, source, index_of(source, tmp_path / "i.json", {"orders.py": []}, ("orders.py",)), capsys)
    assert code == 1 and list(summary["import_errors"]) == ["orders.py"], summary


@pytest.mark.parametrize("emulation", ["3.2.1"], indirect=True)
def test_a_private_web_server_is_asked_through_the_reader_in_its_vpc(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MWAA refuses InvokeRestApi from outside the VPC of a private web server; the DAG reader function,
    inside it, asks for the sync, and only what the wait needs."""
    private = env.front.add(FrontEnvironment(f"{env.name}-private", env.airflow, access_mode="PRIVATE_ONLY"))
    reader = env.lambdas.deploy(
        Function(
            f"{private.name}-dag-reader",
            ROOT / "stages" / "functions" / "dag_reader" / "index.py",
            "handler",
            {
                "ENVIRONMENT_NAME": private.name,
                "AWS_ENDPOINT_URL_MWAA": env.front.vpc_url,  # the airflow.env endpoint, private DNS on
                "PATH": os.environ["PATH"],
                **{k: v for k, v in client_environment("unused").items() if not k.startswith("AWS_ENDPOINT")},
            },
        )
    )
    dag_id = unique("private")
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id=dag_id)})
    index = index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]})
    direct = ["--live-environment", private.name]
    code, summary = sync(env, source, index, capsys, *direct, timeout=3)
    assert code == 1 and summary["live"] == []  # never reported live without having been seen
    assert "AccessDeniedException" in summary["error"] and "from within its VPC" in summary["error"]

    write(source, {"orders.py": DAG.format(dag_id=dag_id) + "# through the reader\n"})
    index = index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]})
    code, summary = sync(env, source, index, capsys, *direct, "--reader-function", reader.name)
    assert code == 0 and summary["live"] == ["orders.py"], json.dumps(summary)
    assert reader.invocations >= 2
    calls = env.front.calls_to(private.name)
    assert all(call.through_vpc for call in calls if call.answer == "200") and any(
        call.answer == "200" for call in calls
    )


@pytest.mark.parametrize("emulation", ["3.2.1"], indirect=True)
def test_the_reader_answers_only_the_reads_the_wait_needs(env: Emulated) -> None:
    import boto3

    reader = env.lambdas.deploy(
        Function(
            "reader-refusals",
            ROOT / "stages" / "functions" / "dag_reader" / "index.py",
            "handler",
            {"ENVIRONMENT_NAME": env.name, "AWS_ENDPOINT_URL_MWAA": env.front.vpc_url, **client_environment("unused")},
        )
    )
    client = boto3.client("lambda")
    for request in ({"Path": "/variables"}, {"Path": "/dags/x/dagRuns"}, {"Path": "/dags", "QueryParameters": [1]}):
        answer = json.loads(client.invoke(FunctionName=reader.name, Payload=json.dumps(request))["Payload"].read())
        assert answer["Error"]["Code"] in ("PathNotAllowed", "QueryNotAllowed"), answer
    answer = json.loads(
        client.invoke(FunctionName=reader.name, Payload=json.dumps({"Path": "/dags"}))["Payload"].read()
    )
    assert answer["RestApiStatusCode"] == 200 and "dags" in answer["RestApiResponse"]


@pytest.mark.parametrize("emulation", ["3.3.1"], indirect=True)
def test_throttling_slows_the_rounds_down_and_the_calls_stay_within_a_round(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first sync of many files: each round asks at most its budget, a throttled round waits longer."""
    ids = {f"bulk_{i:02}.py": unique(f"bulk{i:02}") for i in range(24)}
    source = write(tmp_path / "dags", {path: DAG.format(dag_id=dag_id) for path, dag_id in ids.items()})
    index = index_of(source, tmp_path / "i.json", {path: [dag_id] for path, dag_id in ids.items()})
    env.front.throttle = TokenBucket(rate=2.0, burst=3.0)
    code, summary = sync(env, source, index, capsys, "--live-calls-per-round", "4", timeout=90)
    assert code == 0, summary
    assert len(summary["live"]) == 24
    assert summary["live_throttled_rounds"] >= 1 and summary["live_most_calls_in_a_round"] <= 4
    assert any(call.answer == "ThrottlingException" for call in env.front.calls_to(env.name))


@pytest.mark.parametrize("emulation", ["3.3.1"], indirect=True)
def test_an_environment_that_cannot_answer_is_asked_again_until_the_timeout(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While MWAA cannot reach the web server (restarting during an update) the step keeps asking, and at
    the timeout names the last answer; it never reports success it did not see."""
    down = env.front.add(FrontEnvironment(f"{env.name}-down", airflow=None))
    dag_id = unique("down")
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id=dag_id)})
    index = index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]})
    code, summary = sync(env, source, index, capsys, "--live-environment", down.name, timeout=2)
    assert code == 1 and summary["not_parsed"] == ["orders.py"] and summary["live"] == []
    assert f"the last answer was: InvokeRestApi GET /importErrors on {down.name}" in summary["error"]
    assert "InternalServerException" in summary["error"]
    assert summary["live_rounds"] >= 2


@pytest.mark.parametrize("emulation", ["3.3.1"], indirect=True)
def test_waiting_gives_up_at_its_timeout(env: Emulated) -> None:
    """A file Airflow never sees: the wait ends at the timeout, naming it, and never asks past it."""
    import boto3
    from botocore.config import Config

    from dagtools.live.wait import Upload

    clock = [time.time()]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    reader = InvokeRestApi(boto3.client("mwaa", config=Config(inject_host_prefix=False)), env.name)
    result = wait_until_live(
        reader,
        [Upload("never_synced.py", DAG.format(dag_id="never").encode(), ("never",), added=True)],
        baseline={},
        synced_at=clock[0],
        timeout=60,
        copy_lag=7,
        interval=10,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert not result.ok and result.pending == ["never_synced.py"] and result.live == []
    assert slept == [10] * 6 and result.seconds == 60  # asks at 0, 10, ... 60 s, never past the timeout


@pytest.mark.parametrize("emulation", ["3.3.1"], indirect=True)
def test_a_dag_commit_pushed_while_the_environment_is_created_reaches_it(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the environment is being created the DAG sync has nothing to do; once it is AVAILABLE the
    main pipeline records it and starts the DAG pipeline, whose run syncs the newest commit."""
    import boto3

    from deploytools import environment_status

    created = env.front.add(FrontEnvironment(f"{env.name}-new", env.airflow, status="CREATING"))
    parameter = f"/{created.name}/deployed/dev"
    codepipeline = boto3.client("codepipeline")
    dag_pipeline = _dag_pipeline(codepipeline, f"{created.name}-dags")
    dag_id = unique("during_creation")
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id=dag_id)})
    index = index_of(source, tmp_path / "i.json", {"orders.py": [dag_id]})
    extra = ["--deployed-parameter", parameter, "--live-environment", created.name]
    code, summary = sync(env, source, index, capsys, *extra)
    assert code == 0 and summary["skipped"] is True and summary["deployed"] is False  # pushed during the create

    created.status = "AVAILABLE"
    status = ["--name", created.name, "--region", "eu-west-1", "--interval-seconds", "0.1"]
    assert environment_status.main([*status, "--record-parameter", parameter, "--start-pipeline", dag_pipeline]) == 0
    executions = codepipeline.list_pipeline_executions(pipelineName=dag_pipeline)["pipelineExecutionSummaries"]
    assert len(executions) == 1  # the DAG pipeline runs again, on the newest commit
    assert "started the DAG pipeline" in capsys.readouterr().out

    code, summary = sync(env, source, index, capsys, *extra)  # what that run's sync does
    assert code == 0 and summary["added"] == ["orders.py"] and summary["live"] == ["orders.py"], summary

    # Deployed before: a later main-pipeline run records it again but starts nothing.
    assert environment_status.main([*status, "--record-parameter", parameter, "--start-pipeline", dag_pipeline]) == 0
    assert len(codepipeline.list_pipeline_executions(pipelineName=dag_pipeline)["pipelineExecutionSummaries"]) == 1


@pytest.mark.parametrize("emulation", ["3.3.1"], indirect=True)
def test_status_shows_the_commit_the_drift_and_the_import_errors(
    env: Emulated, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = unique("status_broken")
    source = write(
        tmp_path / "dags",
        {"orders.py": DAG.format(dag_id=unique("status")), "broken.py": BROKEN.format(dag_id=broken)},
    )
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert main(["sync", "--source", str(source), "--bucket", env.bucket, "--commit", commit]) == 0
    env.s3.put_object(Bucket=env.bucket, Key="dags/orders.py", Body=b"# edited in the console\n")
    config = tmp_path / "environments.toml"
    example = (ROOT / "config" / "environments.toml").read_text()
    dev = (
        f'account = "123456789012"\nregion = "eu-west-1"\nenvironment_name = "{env.name}"\nbucket_name = "{env.bucket}"'
    )
    config.write_text(
        example.replace('account = "111111111111"\nregion = "eu-west-1"\nenvironment_name = "mwaa-dev"', dev)
    )
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    report: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while "broken.py" not in report.get("import_errors", {}) and time.monotonic() < deadline:
        capsys.readouterr()
        assert main(["status", "--environment", "dev", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        time.sleep(0.5)
    assert report["commit"] == commit
    assert report["edited"] == ["orders.py"] and report["missing"] == [] and report["unrecorded"] == []
    assert f"no such table: {broken}" in report["import_errors"]["broken.py"]
    assert main(["status", "--environment", "dev"]) == 0
    text = capsys.readouterr().out
    assert f"DAGs from commit: {commit}" in text and "drift (edited outside the sync): orders.py" in text


def test_the_wait_needs_the_checks_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id="orders")})
    code = main(["sync", "--source", str(source), "--bucket", "any-bucket", "--live-environment", "mwaa-dev"])
    assert code == 2
    assert "--live-environment needs the DAG check's index" in capsys.readouterr().err


def test_a_file_the_check_did_not_see_stops_the_sync_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index older than the files would have the wait guess: refused before anything is written."""
    source = write(tmp_path / "dags", {"orders.py": DAG.format(dag_id="orders")})
    index = index_of(source, tmp_path / "i.json", {"orders.py": ["orders"]})
    write(source, {"orders.py": DAG.format(dag_id="orders") + "# edited after the check\n"})
    options = ["--bucket", "bucket-never-asked", "--live-environment", "mwaa-dev", "--dag-index", str(index)]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens: any request would fail
    code = main(["sync", "--source", str(source), *options, "--region", "eu-west-1"])
    assert code == 2
    assert re.search(r"orders\.py is not what the DAG check parsed", capsys.readouterr().err)


def _zip(files: dict[str, str]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _dag_pipeline(codepipeline: Any, name: str) -> str:
    """The DAG pipeline as moto holds it (StartPipelineExecution needs one), with the role CodePipeline runs as."""
    import boto3

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto3.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))
    codepipeline.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role["Role"]["Arn"],
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                            "outputArtifacts": [{"name": "Source"}],
                        }
                    ],
                },
                {
                    "name": "Sync",
                    "actions": [
                        {
                            "name": "Sync",
                            "actionTypeId": {
                                "category": "Build",
                                "owner": "AWS",
                                "provider": "CodeBuild",
                                "version": "1",
                            },
                            "configuration": {"ProjectName": "p"},
                            "inputArtifacts": [{"name": "Source"}],
                        }
                    ],
                },
            ],
        }
    )
    return name
