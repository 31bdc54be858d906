"""DAG authors' local loop on the environment's own Airflow: `make dag-test` and `make airflow` (standalone).

Slow (each starts Airflow), so marked `airflow`: `pytest -m "not airflow"` skips them, `make test` runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.s3server import S3Server

pytestmark = pytest.mark.airflow

ARTIFACTS = ROOT / ".test-artifacts"
SAMPLE_DAGS = ("daily_orders_summary", "s3_landing_file", "variable_driven_report")
LANDING_BUCKET = "landing-for-dag-test"


@pytest.fixture(scope="module")
def local_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home for the tests' local Airflow, never an author's `.airflow-local/`."""
    home = tmp_path_factory.mktemp("airflow-local")
    previous = os.environ.get("DAGTOOLS_LOCAL_HOME")
    os.environ["DAGTOOLS_LOCAL_HOME"] = str(home)
    yield home
    if previous is None:
        del os.environ["DAGTOOLS_LOCAL_HOME"]
    else:
        os.environ["DAGTOOLS_LOCAL_HOME"] = previous


@pytest.fixture(scope="module")
def secrets(server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an author keeps in local/secrets.json: the example's values, and S3 served by moto on 127.0.0.1."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        region_name="eu-west-1",
    )
    s3.create_bucket(Bucket=LANDING_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=LANDING_BUCKET, Key="exports/2026-11-20/orders.csv", Body=b"id,amount\n1,12.5\n2,30.0\n")
    data = json.loads((ROOT / "local" / "secrets.example.json").read_text())
    data["variables"]["landing_bucket"] = LANDING_BUCKET
    data["connections"]["aws_default"] = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": server.url, "region_name": "eu-west-1"},
    }
    path = tmp_path_factory.mktemp("secrets") / "secrets.json"
    path.write_text(json.dumps(data))
    return path


def make_dag_test(secrets: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "dag-test", f"SECRETS={secrets}", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_sample_dags_run_locally_in_one_airflow(local_home: Path, secrets: Path) -> None:
    """`make dag-test DAG="a b c"`: the DAGs one after the other, in one Airflow process."""
    expected = {
        "daily_orders_summary": "2 orders, revenue 42.50",
        "s3_landing_file": "Done. Returned value was: 2",  # two rows under the header, read from S3
        "variable_driven_report": "Sending to ['team@example.com'] through reports.example.com (threshold 10)",
    }
    result = make_dag_test(secrets, f"DAG={' '.join(expected)}", "DATE=2026-11-20")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Testing DAGs {', '.join(expected)} on dev's Airflow 3.3.1, date 2026-11-20"
    assert lines[-1].startswith("3 DAG(s) in ") and lines[-1].endswith(": 3 succeeded")
    # Each DAG's own output sits above its result line and below the one before it.
    ends = [next(i for i, line in enumerate(lines) if line.startswith(f"DAG {dag_id!r}: all ")) for dag_id in expected]
    assert ends == sorted(ends)
    for (dag_id, output), start, end in zip(expected.items(), [0, *ends[:-1]], ends, strict=True):
        assert f"      | {output}" in lines[start:end], dag_id


def dag_test(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagtools", "dag-test", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_failing_task_and_a_file_that_cannot_be_imported_fail_the_run(local_home: Path, tmp_path: Path) -> None:
    """Every DAG of a folder, on prod's Airflow (its version, requirements.txt and plugins), with no local
    secrets file: each failure leads with its cause and the author's own frames."""
    absent = tmp_path / "secrets.json"
    folder = ["--environment", "prod", "--source", str(ROOT / "tests" / "fixtures" / "failing_dags")]
    result = dag_test(*folder, "--secrets", str(absent))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Testing every DAG on prod's Airflow 3.2.1, date now"
    assert lines[1].startswith(f"note: {absent} does not exist, so no Variable or connection is defined locally")
    assert "  success    prepare" in lines and "  failed     explode" in lines
    assert "      | ValueError: cannot handle 42" in lines
    [verdict] = [line for line in lines if line.startswith("FAIL DAG 'failing_task' run failed in ")]
    assert verdict.endswith("failed task(s): 'explode'")
    # A Variable nobody defined: the cause first, where to define it, the DAG's own line; no Airflow internals.
    task_at = lines.index("  failed     read_targets")
    assert lines[task_at + 1] == (
        f"      cause: variable 'greeting_targets' is not defined locally: add it under \"variables\" in {absent} "
        "(in MWAA it comes from Secrets Manager's airflow/variables/greeting_targets)"
    )
    assert lines[task_at + 2] == '      | File "failing_dags/needs_a_variable.py", line 13, in read_targets'
    assert not any("site-packages" in line for line in lines)
    assert "  upstream_failed greet" in lines  # told apart from a failure
    [verdict] = [line for line in lines if line.startswith("FAIL DAG 'needs_a_variable' run failed in ")]
    assert verdict.endswith("failed task(s): 'read_targets'; did not run (upstream failed): 'greet'")
    cannot = "FAIL tests/fixtures/failing_dags/missing_dependency.py cannot be imported, so none of its DAGs ran:"
    assert cannot in lines
    assert any("No module named 'not_in_requirements_txt'" in line for line in lines)
    assert lines[-1].startswith("2 DAG(s) in ")
    assert lines[-1].endswith(": 0 succeeded, 2 failed: failing_task, needs_a_variable; 1 file(s) cannot be imported")

    # Asked for by name, a DAG of that file: its import error first, then why the DAG is missing.
    result = dag_test(*folder, "--dag", "missing_dependency")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines.index(cannot) < lines.index(
        "FAIL no DAG 'missing_dependency' in the DAG folder (DAGs found: failing_task, needs_a_variable)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http://localhost only
        return json.loads(response.read() or b"null")


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (the test setup installs it when missing); Playwright drives it, downloads nothing."""
    found = shutil.which("chromium")
    if not found:
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=environment, capture_output=True
        )
        found = shutil.which("chromium")
    assert found, "chromium could not be installed"
    return found


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (what the standalone gave every process it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def log_in_and_screenshot(chromium: str, port: int, password: str) -> str:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # Generous: on a fresh clone's busy CI machine, one API server worker serving the UI's scripts
        # beside a running DAG took over 30 s for the first page.
        page.set_default_timeout(120_000)
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        page.goto(f"http://127.0.0.1:{port}/dags")
        for dag_id in SAMPLE_DAGS:
            page.get_by_text(dag_id, exact=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "airflow-dag-list.png"))
        text = page.inner_text("body")
        browser.close()
    return text


def with_stat_field(field: int, value: int) -> list[int]:
    """Live processes whose /proc stat has `value` in the field after the command name (0 state, 1 parent,
    2 process group); a process that ends while being read is skipped."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[field]) == value:
                    found.append(int(entry.name))
    return found


def in_group(group: int) -> list[int]:
    """Live processes of a process group (what the local Airflow's components started, whatever they renamed)."""
    return with_stat_field(2, group)


def command_line(pid: int) -> bytes:
    """A process's command line; empty once it has ended (a short-lived helper of a component may)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children_of(pid: int) -> list[int]:
    return with_stat_field(1, pid)


def listening_addresses(pids: list[int]) -> set[str]:
    """The local addresses the processes listen on (TCP, from /proc: their sockets' inodes)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                if len(address) == 8:
                    address = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                found.add(f"{address}:{int(port, 16)}")
    return found


def start_airflow(*options: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **({"DAGTOOLS_LOCAL_HOME": str(home)} if home else {})}
    return subprocess.run(
        [sys.executable, "-m", "dagtools", "airflow", *options],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_airflow("--port", str(port), home=tmp_path)
    assert result.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is in use" in result.stderr and "PORT=" in result.stderr
    assert not (tmp_path / "dev" / "airflow.db").exists()  # refused before the database was prepared


def test_stopping_reaps_a_helper_its_component_left_behind() -> None:
    """A component's helper that outlives the component is reaped when Airflow stops, not left as a zombie in
    its group for init: a container's init may reap late or never (this machine's reaps every 2 s)."""
    standalone = (
        "import subprocess\n"
        "from dagtools.local.command import _adopt_orphans, _stop_group\n"
        "_adopt_orphans()\n"
        "component = subprocess.Popen(['sh', '-c', 'sleep 60 & echo $!'], stdout=subprocess.PIPE, process_group=0)\n"
        "helper = component.stdout.readline().decode().strip()\n"
        "component.wait()  # the component ended first: its helper is an orphan\n"
        "_stop_group(component)\n"
        "print(component.pid, helper)\n"
    )
    init = (  # takes in what is orphaned beneath it and reaps none of it, as some containers' init
        "import os, subprocess, sys\n"
        "from dagtools.local.command import _prctl\n"
        "_prctl(36, 1)  # PR_SET_CHILD_SUBREAPER\n"
        f"run = subprocess.run([sys.executable, '-c', {standalone!r}], capture_output=True, check=True)\n"
        "group, helper = map(int, run.stdout.split())\n"
        "try:\n"
        "    print('left to init:', os.waitpid(-group, os.WNOHANG)[0] == helper)\n"
        "except ChildProcessError:\n"
        "    print('nothing left to init')\n"
    )
    result = subprocess.run([sys.executable, "-c", init], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout == "nothing left to init\n", result.stdout + result.stderr


@pytest.mark.browser
def test_standalone_serves_the_dags_live_runs_them_and_stops_cleanly(
    local_home: Path, secrets: Path, chromium: str, tmp_path: Path
) -> None:
    """On this machine only, one instance per database, one executor worker per core; a hang-up (a closed
    terminal, an SSH drop) stops everything it started."""
    dags = tmp_path / "dags"
    shutil.copytree(ROOT / "dags", dags)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagtools",
            "airflow",
            "--port",
            str(port),
            "--source",
            str(dags),
            "--secrets",
            str(secrets),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        up = wait_for("Airflow is up", lambda: next((line for line in lines if "Airflow is up" in line), None), 300)
        password = up.split("login: admin / ")[1].strip()
        assert up.startswith(f"Airflow is up: http://127.0.0.1:{port}")
        health = api(port, "GET", "/api/v2/monitor/health")
        assert {part: health[part]["status"] for part in health} == {
            "metadatabase": "healthy",
            "scheduler": "healthy",
            "triggerer": "healthy",
            "dag_processor": "healthy",
        }
        [group] = {os.getpgid(child) for child in children_of(process.pid)}  # the components' one group
        started = in_group(group)
        assert listening_addresses(started) == {f"127.0.0.1:{port}"}  # no log servers on every interface
        workers = [pid for pid in started if b"LocalExecutor" in command_line(pid)]
        assert len(workers) == max(2, os.cpu_count() or 2)
        second = start_airflow("--port", str(free_port()))
        assert second.returncode == 2
        assert "error: Airflow is already running on this environment's database" in second.stderr
        assert f"pid {process.pid}, http://127.0.0.1:{port}" in second.stderr and "Ctrl-C" in second.stderr

        token = api(port, "POST", "/auth/token", body={"username": "admin", "password": password})["access_token"]
        wait_for("the DAG to be parsed", lambda: api(port, "GET", "/api/v2/dags/daily_orders_summary", token), 120)
        # dags/ is live: a file added now appears without a restart (checked last, while the rest runs).
        added = (dags / "daily_orders_summary.py").read_text().replace("def daily_orders_summary", "def added_live")
        (dags / "added_live.py").write_text(added.replace("daily_orders_summary()", "added_live()"))
        api(port, "PATCH", "/api/v2/dags/daily_orders_summary", token, {"is_paused": False})
        run = api(port, "POST", "/api/v2/dags/daily_orders_summary/dagRuns", token, {"logical_date": None})

        text = log_in_and_screenshot(chromium, port, password)  # while the run runs
        assert all(dag_id in text for dag_id in SAMPLE_DAGS)
        assert (ARTIFACTS / "airflow-dag-list.png").stat().st_size > 10_000

        path = f"/api/v2/dags/daily_orders_summary/dagRuns/{run['dag_run_id']}"
        state = wait_for(
            "the run to finish", lambda: api(port, "GET", path, token)["state"] in ("success", "failed"), 180
        )
        assert state and api(port, "GET", path, token)["state"] == "success"
        wait_for("a new DAG file to show up", lambda: api(port, "GET", "/api/v2/dags/added_live", token), 90)
    finally:
        process.send_signal(signal.SIGHUP)  # the terminal closed
        code = process.wait(timeout=90)
    logs = "\n".join(p.read_text()[-3000:] for p in (local_home / "dev").glob("*.log"))
    assert code == 0, "\n".join(lines[-10:]) + logs
    assert in_group(group) == [] and processes_with(f"AIRFLOW__API__PORT={port}") == []
