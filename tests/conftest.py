"""Shared fixtures: the example app (pipeline and stages) is synthesized once per session, with cdk-nag on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.s3server import S3Server

ROOT = Path(__file__).resolve().parents[1]
# jsii starts Node on the first aws_cdk import: use the pinned one, as the Makefile does.
os.environ["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}"

from aws_cdk import App, cx_api  # noqa: E402

from config import ProjectConfig, load_config  # noqa: E402
from pipeline.assembly import build_app  # noqa: E402
from stages import FAIL_ON_FINDINGS  # noqa: E402
from tests.s3server import DENIED, S3Server, client_environment  # noqa: E402

CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def new_app(outdir: Path) -> App:
    """An App configured like `cdk synth` runs it: cdk.json's flags, findings fail synth."""
    return App(context=CDK_CONTEXT, outdir=str(outdir), post_cli_context=FAIL_ON_FINDINGS)


def synth_app(project: ProjectConfig, outdir: Path) -> cx_api.CloudAssembly:
    """The whole app as app.py builds it: the pipeline stack and every environment's Stage."""
    app = new_app(outdir)
    build_app(app, project)
    return app.synth()


def stacks_of(assembly: cx_api.CloudAssembly) -> dict[str, cx_api.CloudFormationStackArtifact]:
    """Every stack in the assembly and its nested (Stage) assemblies, by stack name."""
    return {stack.stack_name: stack for stack in assembly.stacks_recursively}


def cfn_lint(*templates: str) -> tuple[int, str, str]:
    """cfn-lint's exit code, findings and errors: the locked cfn-lint beside this Python, whatever else PATH has."""
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="session")
def example_config() -> ProjectConfig:
    return load_config()


@dataclass(frozen=True)
class CliSynth:
    """`scripts/synth.sh` (the pinned CDK CLI, as `make synth` runs it) on the example config: what it printed
    and where it wrote the assembly."""

    result: subprocess.CompletedProcess[str]
    outdir: Path


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """The example app synthesized once per session, by the CLI: the tests of its templates read what
    `make synth` writes. Beforehand, the output folder holds a stale template of another config, and the
    CLI's cache holds a notice that mentions a warning (see tests/test_cli.py)."""
    work = tmp_path_factory.mktemp("cli-synth")
    stale = work / "cdk.out" / "assembly-gone"
    stale.mkdir(parents=True)
    (stale / "gone-mwaa.template.json").write_text("{}")
    (work / "cdk.out" / "manifest.json").write_text("{}")
    (work / "cdk-home" / "cache").mkdir(parents=True)
    (work / "cdk-home" / "cache" / "notices.json").write_text(json.dumps(cached_notice(time.time())))
    env = {
        **{k: v for k, v in os.environ.items() if k != "MWAA_CONFIG"},
        "PATH": f"{ROOT / 'node_modules/.bin'}:{ROOT / '.venv/bin'}:/usr/bin:/bin",
        "CDK_HOME": str(work / "cdk-home"),
    }
    result = subprocess.run(
        ["scripts/synth.sh", "--output", str(work / "cdk.out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return CliSynth(result, work / "cdk.out")


def cached_notice(now: float) -> dict[str, Any]:
    """A CDK CLI notice as the CLI caches them (news from the CDK team), one that mentions a warning."""
    notice = {
        "title": "A CLI notice that mentions a warning",
        "issueNumber": 99999,
        "overview": "This notice warns about nothing in particular.",
        "components": [{"name": "cli", "version": "<3.0.0"}],
        "schemaVersion": "1",
    }
    return {"expiration": int((now + 3600) * 1000), "notices": [notice]}


@pytest.fixture(scope="session")
def assembly(cli_synth: CliSynth) -> cx_api.CloudAssembly:
    assert cli_synth.result.returncode == 0, cli_synth.result.stderr
    return cx_api.CloudAssembly(str(cli_synth.outdir))


@pytest.fixture(scope="session")
def stacks(assembly: cx_api.CloudAssembly) -> dict[str, cx_api.CloudFormationStackArtifact]:
    return stacks_of(assembly)


@pytest.fixture(scope="session")
def templates(stacks: dict[str, cx_api.CloudFormationStackArtifact]) -> dict[str, dict[str, Any]]:
    return {name: stack.template for name, stack in stacks.items()}


ALL_OPTIONS = ROOT / "config" / "examples" / "all-options.toml"


@pytest.fixture(scope="session")
def all_options_assembly(tmp_path_factory: pytest.TempPathFactory) -> cx_api.CloudAssembly:
    """config/examples/all-options.toml synthesized once per session, like the example."""
    return synth_app(load_config(ALL_OPTIONS), tmp_path_factory.mktemp("all-options"))


def templates_of(assembly: cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return {name: stack.template for name, stack in stacks_of(assembly).items()}


@pytest.fixture(scope="session")
def all_options_templates(all_options_assembly: cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return templates_of(all_options_assembly)


CROSS_REGION = ROOT / "config" / "examples" / "cross-region.toml"


@pytest.fixture(scope="session")
def cross_region_assembly(tmp_path_factory: pytest.TempPathFactory) -> cx_api.CloudAssembly:
    """config/examples/cross-region.toml: environments in regions other than the pipeline's."""
    return synth_app(load_config(CROSS_REGION), tmp_path_factory.mktemp("cross-region"))


@pytest.fixture(scope="session")
def cross_region_templates(cross_region_assembly: cx_api.CloudAssembly) -> dict[str, dict[str, Any]]:
    return templates_of(cross_region_assembly)


def run_app(config: Path) -> subprocess.CompletedProcess[str]:
    """app.py as `cdk synth` starts it, with MWAA_CONFIG pointing at `config` and a bare PATH."""
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={"MWAA_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def repository_scratch() -> Path:
    """A new scratch folder inside the repository (config's files_dir must lie inside it); gitignored."""
    folder = ROOT / ".test-tmp" / uuid.uuid4().hex[:8]
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def repo_tmp() -> Iterator[Path]:
    folder = repository_scratch()
    yield folder
    shutil.rmtree(folder)


# moto's S3 server over HTTP, for the DAG sync tests (test_dagsync*.py).
@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    from tests.s3server import S3Server

    with S3Server() as running:
        yield running


@pytest.fixture
def s3(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    for name, value in client_environment(server.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    server.layer.fail_puts_after = None
    server.layer.fail_puts_with = ("403 Forbidden", DENIED)
    server.layer.slowdowns = 0
    server.layer.after_put = None
    server.layer.puts_answered = 0
    server.layer.delay = 0.0
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "test-" + hashlib.sha1(request.node.name.encode()).hexdigest()[:20]  # noqa: S324 - a name, not security
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return name


SYNTHESIZED = {"cli_synth", "assembly", "all_options_assembly", "cross_region_assembly"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`), the tests of the synthesized example apps all run on one worker,
    so each app is still synthesized once per run, not once per worker; and the slow Airflow tests
    start first, so no worker is left with them at the end while the others idle."""
    for item in items:
        if SYNTHESIZED & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("synthesized"))
        emulated = getattr(item, "callspec", None) and item.callspec.params.get("emulation")  # type: ignore[attr-defined]
        if emulated:  # each Airflow version's emulation starts once, on one worker (tests/test_live.py)
            item.add_marker(pytest.mark.xdist_group(f"emulated-{emulated}"))
    items.sort(key=lambda item: item.get_closest_marker("airflow") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail early when pytest-xdist's loadgroup no longer groups (it marks each grouped test's node id with
    `@group`, which a pytest upgrade once ignored): every synthesized app and Airflow emulation would then
    start on every worker."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist did not group {lost[0]} and {len(lost) - 1} more: check the pytest pin")
