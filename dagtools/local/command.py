"""Run DAGs locally on an environment's own Airflow: `make dag-test` and `make airflow`.

No Docker and no AWS credentials: the environment's DAG-check venv (its Airflow version, exactly
MWAA's packages, its requirements.txt) runs the DAGs, with its plugins on the path and its Airflow
options applied where they mean something on one machine. The metadata database is SQLite under
`.airflow-local/<env>/` (ignored by git). Variables and connections come from `local/secrets.json`
(ignored by git; see `local/secrets.example.json`), as the Secrets Manager backend would give them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagtools.check.airflow_venv import (
    ROOT,
    CheckSetupError,
    airflow_python,
    bytecode_cache,
    shown,
    targets_to_check,
)
from dagtools.local.airflow_dag_test import DAG_MARKER
from dagtools.progress import ticking

# Tests set DAGTOOLS_LOCAL_HOME so they never share a database with an author's running `make airflow`.
LOCAL_HOME = Path(os.environ.get("DAGTOOLS_LOCAL_HOME", ROOT / ".airflow-local"))
SECRETS_FILE = ROOT / "local" / "secrets.json"
# Airflow options from config that describe MWAA's machinery, not the DAGs: they make no sense on
# one machine (Celery on SQS, MWAA's metrics sidecar) or are replaced here (the secrets backend).
LOCAL_SKIPPED_SECTIONS = ("celery", "celery_broker_transport_options", "metrics", "secrets", "workers")
STARTED = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(\S+)")
ENDED = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(\S+)")
# Airflow's own bookkeeping in a task's output (state updates, XCom pushes, log groups): left out of tails.
NOISE = re.compile(
    r"\[(airflow\.api_fastapi[\w.]*|airflow\.sdk\.definitions\.dag|airflow\.models\.dagrun)\]"
    r"|::(end)?group::|Pushing xcom|Task instance state updated|Updating RenderedTaskInstanceFields|^\[\] \[\]$"
)
STRUCTURED = re.compile(r"^\S+Z \[(?P<level>\w+)\s*\] (?P<message>.*?)(\s+\[[\w.]+\])?(\s+loc=\S+.*)?$")
TAIL_LINES = 8
FAILED_TAIL_LINES = 30
STANDALONE_START_TIMEOUT = 240
SECRETS_HELP = "variables and connections (default: local/secrets.json, kept out of git)"


@dataclass(frozen=True)
class LocalAirflow:
    """An environment's Airflow, ready to run: its interpreter, its home, the variables to run it with,
    and the variables and connections files its secrets backend reads."""

    stage: str
    version: str
    python: Path
    home: Path
    environ: dict[str, str]
    variables: Path
    connections: Path
    secrets_prefix: str | None  # where MWAA's secrets backend reads them (config's secrets_manager_prefix)

    @property
    def airflow(self) -> str:
        return str(self.python.with_name("airflow"))


def secrets_files(home: Path, source: Path = SECRETS_FILE) -> tuple[Path, Path]:
    """Split the author's secrets file into the two files Airflow's LocalFilesystemBackend reads.

    Values that are not strings are stored as JSON text, as Secrets Manager holds them, so
    `Variable.get(..., deserialize_json=True)` behaves as in MWAA.
    """
    data: dict[str, Any] = json.loads(source.read_text()) if source.is_file() else {}
    unknown = set(data) - {"variables", "connections"}
    if unknown:
        raise CheckSetupError(f"{source}: unknown top-level keys {sorted(unknown)}; use variables and connections")
    variables = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.get("variables", {}).items()}
    paths = (home / "variables.json", home / "connections.json")
    paths[0].write_text(json.dumps(variables, indent=1))
    paths[1].write_text(json.dumps(data.get("connections", {}), indent=1))
    return paths


def config_options(options: dict[str, str]) -> dict[str, str]:
    """The environment's Airflow options as AIRFLOW__SECTION__OPTION, less what means nothing locally."""
    result = {}
    for key, value in options.items():
        section, option = key.split(".", 1)
        if section not in LOCAL_SKIPPED_SECTIONS:
            result[f"AIRFLOW__{section.upper()}__{option.upper()}"] = value
    return result


def prepare(stage: str | None, dags: Path, secrets: Path = SECRETS_FILE) -> LocalAirflow:
    """The environment's venv (installed if needed), a migrated SQLite database, and the environment to run in."""
    from config import read_config

    project = read_config(os.environ.get("MWAA_CONFIG"))
    env = project.environment(stage) if stage else project.environments[0]
    [target] = targets_to_check([env.stage])
    python = airflow_python(target)
    home = LOCAL_HOME / env.stage
    home.mkdir(parents=True, exist_ok=True)
    variables, connections = secrets_files(home, secrets)
    plugins = str(target.plugins) if target.plugins else str(home / "no-plugins")
    # Compiled modules are kept (in the venv, where the DAG check keeps them too): a machine that sets
    # PYTHONDONTWRITEBYTECODE would otherwise compile about 2,000 of Airflow's modules in every process.
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW") and key != "PYTHONDONTWRITEBYTECODE"
    }
    environ["PYTHONPYCACHEPREFIX"] = str(bytecode_cache(python))
    environ.update(config_options(dict(env.airflow_configuration_options)))
    environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags.resolve()),
        AIRFLOW__CORE__PLUGINS_FOLDER=plugins,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW__SECRETS__BACKEND="airflow.secrets.local_filesystem.LocalFilesystemBackend",
        AIRFLOW__SECRETS__BACKEND_KWARGS=json.dumps(
            {"variables_file_path": str(variables), "connections_file_path": str(connections)}
        ),
        # MWAA puts plugins.zip on every scheduler's and worker's path; DAGs may import from it.
        PYTHONPATH=plugins,
        # Airflow starts its own commands (standalone's components, task runners) from PATH.
        PATH=os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
    )
    local = LocalAirflow(
        env.stage, target.version, python, home, environ, variables, connections, env.secrets_manager_prefix
    )
    _migrate(local)
    return local


def _migrate(local: LocalAirflow) -> None:
    """`airflow db migrate`, again only when the venv changed (its stamp is the hash of its pins)."""
    stamp = local.home / ".migrated"
    installed = (local.python.parents[1] / ".installed").read_text()
    digest = hashlib.sha256(f"{local.version}\0{installed}".encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    with ticking(f"Preparing the local metadata database in {local.home}/"):
        result = subprocess.run(
            [local.airflow, "db", "migrate"], env=local.environ, capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise CheckSetupError(f"airflow db migrate failed:\n{(result.stdout + result.stderr)[-3000:]}")
    stamp.write_text(digest)


def readable(line: str) -> str | None:
    """A task's output line as an author wants it: no timestamp or logger; None for Airflow's bookkeeping."""
    if NOISE.search(line):
        return None
    structured = STRUCTURED.match(line)
    if not structured:
        return line
    level, message = structured["level"], structured["message"]
    return message if level == "info" else f"{level.upper()} {message}"


def split_by_task(output: str) -> dict[str, list[str]]:
    """Each task's readable lines of a `dag.test()` output, between its start and end markers."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in output.splitlines():
        if started := STARTED.search(line):
            task, index = started.groups()
            current = task if index == "-1" else f"{task}[{index}]"
            sections.setdefault(current, [])
        elif ENDED.search(line):
            current = None
        elif current is not None and (shown := readable(line)) is not None:
            sections[current].append(shown)
    return sections


def _prepared(args: argparse.Namespace) -> LocalAirflow | None:
    """`prepare` for a command: None, after saying why, when the environment cannot be set up."""
    from config import ConfigError, UnknownEnvironmentError

    try:
        return prepare(args.environment, args.source, args.secrets)
    except (CheckSetupError, ConfigError, UnknownEnvironmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def split_by_dag(output: str) -> dict[str, str]:
    """The runner's output, cut at its DAG_MARKER lines: each DAG's own part, by dag_id."""
    parts: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith(DAG_MARKER):
            current = parts.setdefault(line[len(DAG_MARKER) :], [])
        else:
            current.append(line)
    return {dag_id: "\n".join(lines) for dag_id, lines in parts.items()}


def run_dag_test(args: argparse.Namespace) -> int:
    """Run the DAGs; 0 when every task succeeded, 1 when a task failed or a file cannot be imported or a DAG
    asked for is not there, 2 when the local Airflow cannot be set up."""
    local = _prepared(args)
    if local is None:
        return 2
    dag_ids: list[str] = args.dag or []
    what = f"DAG {dag_ids[0]}" if len(dag_ids) == 1 else f"DAGs {', '.join(dag_ids)}" if dag_ids else "every DAG"
    print(f"Testing {what} on {local.stage}'s Airflow {local.version}, date {args.date or 'now'}")
    _note_missing_secrets(args.secrets)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dag-test-") as scratch:
        report_path = Path(scratch) / "report.json"
        # A copy of the runner, run from a scratch folder: none of this project's packages is importable
        # by DAG code (a helper named `config` must resolve to the DAG folder's, as in MWAA).
        runner = Path(scratch) / "airflow_dag_test.py"
        runner.write_text((Path(__file__).with_name("airflow_dag_test.py")).read_text())
        result = subprocess.run(
            [
                *(str(local.python), str(runner), str(report_path), args.date or "-"),
                *(str(local.variables), str(local.connections), *dag_ids),
            ],
            cwd=scratch,
            env=local.environ,
            capture_output=True,
            text=True,
            check=False,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0 or not report_path.is_file():
            print(output[-4000:], file=sys.stderr)
            print(f"error: the DAG run itself failed to start (exit {result.returncode})", file=sys.stderr)
            return 2
        report: dict[str, Any] = json.loads(report_path.read_text())
    failure = Failure(args.source.resolve(), args.secrets, local.secrets_prefix)
    if "error" in report:
        # The cause first: a file that cannot be imported is why its DAGs are missing.
        for path, message in report["import_errors"].items():
            _print_import_error(path, message, failure)
        print(f"FAIL {report['error']} (DAGs found: {', '.join(report['dag_ids']) or 'none'})")
        return 1
    runs: list[dict[str, Any]] = report["runs"]
    outputs = split_by_dag(output)
    # Every DAG was asked for: a file that cannot be imported is a failure too (its DAGs never ran).
    broken = report["import_errors"] if not dag_ids else {}
    for path, message in broken.items():
        _print_import_error(path, message, failure)
    if len(runs) == 1 and not broken:  # one DAG: its time is the whole wait, Airflow's start-up included
        return _print_run(runs[0], split_by_task(outputs[runs[0]["dag_id"]]), time.monotonic() - started, failure)
    codes = [_print_run(run, split_by_task(outputs[run["dag_id"]]), run["seconds"], failure) for run in runs]
    failed = [run["dag_id"] for run, code in zip(runs, codes, strict=True) if code]
    print(
        f"{len(runs)} DAG(s) in {time.monotonic() - started:.1f} s: {len(runs) - len(failed)} succeeded"
        + (f", {len(failed)} failed: {', '.join(failed)}" if failed else "")
        + (f"; {len(broken)} file(s) cannot be imported" if broken else "")
    )
    return 1 if failed or broken else 0


def _note_missing_secrets(secrets: Path) -> None:
    if not secrets.is_file():
        print(
            f"note: {shown(secrets)} does not exist, so no Variable or connection is defined locally: copy "
            f"{shown(SECRETS_FILE.with_name('secrets.example.json'))} to {shown(SECRETS_FILE)} and fill it in"
        )


# What a task's traceback says is missing: (pattern, kind). Airflow 3's task SDK raises these.
MISSING = (
    (re.compile(r"Variable (\S+) not found|Variable (\S+) does not exist"), "variable"),
    (re.compile(r"The conn_id `([^`]+)` isn't defined"), "connection"),
)
FRAME_LINE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


@dataclass(frozen=True)
class Failure:
    """How to explain a failed task or file: whose frames to show, where local secrets live."""

    dags: Path
    secrets: Path
    secrets_prefix: str | None  # the environment's Secrets Manager prefix, where MWAA reads them

    def explain(self, lines: list[str]) -> list[str] | None:
        """The cause of a failure, then the author's own frames and the error: None without a traceback."""
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
        if not starts:
            return None
        trace = lines[starts[-1] :]
        error = next((line for line in reversed(trace) if line and not line.startswith(" ")), trace[-1])
        shown_lines = [f"cause: {cause}" for cause in [self._cause(error)] if cause]
        keep = False
        for line in trace[1:]:
            frame = FRAME_LINE.match(line)
            if frame:
                keep = frame["file"].startswith(str(self.dags))
                if keep:
                    shown_lines.append(f"| {line.strip().replace(str(self.dags.parent) + '/', '')}")
            elif keep and line.startswith("    ") and not set(line.strip()) <= {"^", "~"}:
                shown_lines.append(f"|     {line.strip()}")
        kind, colon, text = error.partition(": ")
        shown_lines.append(f"| {kind.rsplit('.', 1)[-1]}{colon}{text}")  # the exception's class without its module
        return shown_lines

    def _cause(self, error: str) -> str | None:
        for pattern, kind in MISSING:
            match = pattern.search(error)
            if match:
                name = next(group for group in match.groups() if group)
                where = (
                    f"Secrets Manager's {self.secrets_prefix}/{kind}s/{name}"
                    if self.secrets_prefix
                    else f"the environment's Airflow {kind}s"
                )
                return (
                    f'{kind} {name!r} is not defined locally: add it under "{kind}s" in {shown(self.secrets)} '
                    f"(in MWAA it comes from {where})"
                )
        return None


def _print_import_error(path: str, message: str, failure: Failure) -> None:
    relative = Path(path).resolve().relative_to(failure.dags) if Path(path).is_absolute() else Path(path)
    print(f"FAIL {shown(failure.dags)}/{relative.as_posix()} cannot be imported, so none of its DAGs ran:")
    explained = failure.explain(message.splitlines())
    for line in explained or [f"| {line}" for line in message.splitlines()[-FAILED_TAIL_LINES:]]:
        print(f"      {line}")


def _print_run(run: dict[str, Any], logs: dict[str, list[str]], seconds: float, failure: Failure) -> int:
    """One DAG run's tasks with the tail of their output (a failed one's cause and own frames); 1 if any task
    or the run failed."""
    dag_id = run["dag_id"]
    failed, upstream = [], []
    for task in run["tasks"]:
        name = task["task_id"] if task["map_index"] == -1 else f"{task['task_id']}[{task['map_index']}]"
        state = task["state"]
        print(f"  {state:<10} {name}")
        if state in ("success", "skipped"):
            for line in logs.get(name, [])[-TAIL_LINES:]:
                print(f"      | {line}")
        elif state == "upstream_failed":
            upstream.append(name)
            print("      | did not run: a task it depends on failed")
        else:
            failed.append(name)
            explained = failure.explain(logs.get(name, []))
            for line in explained or [f"| {line}" for line in logs.get(name, [])[-FAILED_TAIL_LINES:]]:
                print(f"      {line}")
    if failed or upstream or run["state"] != "success":
        names = ", ".join(repr(name) for name in failed) or "none"
        skipped = f"; did not run (upstream failed): {', '.join(map(repr, upstream))}" if upstream else ""
        print(f"FAIL DAG {dag_id!r} run {run['state']} in {seconds:.1f} s; failed task(s): {names}{skipped}")
        return 1
    print(f"DAG {dag_id!r}: all {len(run['tasks'])} task(s) succeeded in {seconds:.1f} s")
    return 0


def _health(host: str, port: int) -> bool:
    import urllib.error  # here, not on top: every `python -m dagtools sync` would pay for it
    import urllib.request

    address = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - naming the wildcard, not binding
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/api/v2/monitor/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# Airflow's four components, as `airflow standalone` runs them, but with the log servers off (their port
# would listen on every interface; the API server reads task logs from this machine's disk instead).
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
LOOPBACK = ("127.0.0.1", "::1", "localhost")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class AlreadyRunning(Exception):
    """Another `make airflow` holds this environment's database, or the port is taken."""


@contextlib.contextmanager
def _one_instance(home: Path, host: str, port: int) -> Iterator[None]:
    """Hold this environment's local Airflow for as long as it runs: its SQLite database takes one
    scheduler, and its port one API server. A second start is refused, naming the first."""
    home.mkdir(parents=True, exist_ok=True)
    running = home / "running.json"
    with (home / "airflow.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            first = json.loads(running.read_text()) if running.is_file() else {}
            raise AlreadyRunning(
                f"Airflow is already running on this environment's database ({home / 'airflow.db'}): "
                f"pid {first.get('pid', '?')}, {first.get('url', 'its URL in ' + str(running))}. Stop it with "
                f"Ctrl-C in its terminal (or `kill {first.get('pid', '<pid>')}`), or run another environment "
                "(ENV=...)"
            ) from None
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            try:
                probe.bind((host, port))
            except OSError as error:
                raise AlreadyRunning(
                    f"port {port} on {host} is in use ({error.strerror}): another program listens there; "
                    "pick a free one with PORT=... (make airflow PORT=8081)"
                ) from None
        running.write_text(json.dumps({"pid": os.getpid(), "url": f"http://{host}:{port}"}))
        try:
            yield
        finally:
            running.unlink(missing_ok=True)


def _prctl(option: int, value: int) -> None:
    """Linux's prctl; elsewhere nothing (the components are still stopped by their process group)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)


def _die_with_parent() -> None:
    """In each component: SIGTERM when this process dies, however it dies (Linux), so none outlives it."""
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _adopt_orphans() -> None:
    """Become the parent of the components' orphaned helpers (Linux), so that this process reaps them when
    they end: a container's init may reap late or never, and an unreaped helper stays in the group as a
    zombie, which holds the stop until the 30 s deadline."""
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def run_standalone(args: argparse.Namespace) -> int:
    """Airflow's API server, scheduler, DAG processor and triggerer until Ctrl-C or a hang-up, then stop them all."""
    from config import ConfigError, UnknownEnvironmentError

    host, port = args.listen, args.port
    try:
        with _one_instance(_home(args.environment), host, port):
            return _start(args, host, port)
    except (AlreadyRunning, ConfigError, UnknownEnvironmentError) as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2


def _home(stage: str | None) -> Path:
    """Where an environment's local Airflow keeps its database and logs."""
    from config import read_config

    project = read_config(os.environ.get("MWAA_CONFIG"))
    return LOCAL_HOME / (project.environment(stage) if stage else project.environments[0]).stage


def _start(args: argparse.Namespace, host: str, port: int) -> int:
    local = _prepared(args)
    if local is None:
        return 2
    _note_missing_secrets(args.secrets)
    if host not in LOOPBACK:
        print(
            f"WARNING: Airflow listens on {host}: its UI and API, with the generated admin login, are open to "
            f"anyone who can reach this machine on port {port}. Leave out LISTEN to keep it on this machine.",
            file=sys.stderr,
        )
    url = f"http://{'127.0.0.1' if host not in LOOPBACK else host}:{port}"
    environ = {
        **local.environ,
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # Task runners report to the API server: on this port, on this machine.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # One worker process per core, not Airflow's 32.
        "AIRFLOW__CORE__PARALLELISM": str(max(2, os.cpu_count() or 2)),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        # Edits in dags/ show up within seconds, without a restart.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
    }
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        print(f"Starting Airflow {local.version} ({local.stage}) on {url}, logs in {local.home}/ ...")
        group = 0
        _adopt_orphans()
        for name, command in COMPONENTS.items():
            with (local.home / f"{name}.log").open("w") as output:
                processes[name] = subprocess.Popen(
                    [local.airflow, *command],
                    env=environ,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    process_group=group,
                    preexec_fn=_die_with_parent,
                )
            group = group or processes[name].pid
        return _serve(local, processes, url, host, port, args.source)
    except KeyboardInterrupt:
        print("Stopping Airflow ...", file=sys.stderr)
        return 0
    finally:
        if processes:
            _stop_group(next(iter(processes.values())))
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(
    local: LocalAirflow, processes: dict[str, subprocess.Popen[bytes]], url: str, host: str, port: int, source: Path
) -> int:
    """Wait until the API server answers, say how to log in, then until a component stops or a signal comes."""
    deadline = time.monotonic() + STANDALONE_START_TIMEOUT
    while not _health(host, port):
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"error: Airflow's {name} stopped at start; see {local.home / (name + '.log')}", file=sys.stderr)
                return 1
        if time.monotonic() > deadline:
            print(
                f"error: Airflow did not answer within {STANDALONE_START_TIMEOUT} s; see {local.home}/", file=sys.stderr
            )
            return 1
        time.sleep(1)
    passwords = local.home / "simple_auth_manager_passwords.json.generated"
    login = json.loads(passwords.read_text()) if passwords.is_file() else {}
    print(f"Airflow is up: {url}  login: admin / {login.get('admin', '(see api-server.log)')}")
    print(f"DAGs from {source.resolve()} (edits show up within seconds). Ctrl-C stops everything.", flush=True)
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"error: Airflow's {name} stopped; see {local.home / (name + '.log')}", file=sys.stderr)
                return 1
        time.sleep(1)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to every process the components started (one process group), SIGKILL to what is left."""
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        with contextlib.suppress(ChildProcessError):  # every ended one, the adopted orphans too
            while os.waitpid(-group, os.WNOHANG)[0]:
                pass
        time.sleep(0.2)
    # Children that outlived their parent keep its process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-group, 0)[0]:
            pass


def add_local_commands(commands: Any, environment_keys: str) -> None:
    dag_test = commands.add_parser(
        "dag-test",
        help="run DAGs on this machine, on an environment's Airflow",
        epilog="example: python -m dagtools dag-test --dag daily_orders_summary --date 2026-11-20   "
        "(exit 0: every task succeeded; 1: a task failed, a file does not import or a DAG is missing; "
        "2: the local Airflow could not be set up)",
    )
    dag_test.add_argument(
        "--dag", action="append", help="a dag_id to run; repeat for several (default: every DAG in the folder)"
    )
    dag_test.add_argument(
        "--environment", metavar=environment_keys, help="whose Airflow, plugins and options (default: the first)"
    )
    dag_test.add_argument("--date", help="logical date, e.g. 2026-11-20 (default: now)")
    dag_test.add_argument("--source", type=Path, default=ROOT / "dags", help="DAG folder (default: dags)")
    dag_test.add_argument("--secrets", type=Path, default=SECRETS_FILE, help=SECRETS_HELP)
    dag_test.set_defaults(handler=run_dag_test)

    standalone = commands.add_parser(
        "airflow",
        help="Airflow's UI, scheduler and workers on this machine, with the DAG folder live",
        epilog="example: python -m dagtools airflow --environment prod --port 8081",
    )
    standalone.add_argument(
        "--environment", metavar=environment_keys, help="whose Airflow, plugins and options (default: the first)"
    )
    standalone.add_argument("--port", type=int, default=8080, help="the UI and API port (default: 8080)")
    standalone.add_argument(
        "--listen",
        default="127.0.0.1",
        help="the address the UI and API listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens them "
        "to the network, with a warning)",
    )
    standalone.add_argument("--source", type=Path, default=ROOT / "dags", help="DAG folder (default: dags)")
    standalone.add_argument("--secrets", type=Path, default=SECRETS_FILE, help=SECRETS_HELP)
    standalone.set_defaults(handler=run_standalone)
