"""An MWAA environment's real Airflow, run here the way MWAA runs it, for the live-wait tests and `make bench`.

What runs is the environment's Airflow version with MWAA's packages (the DAG check's venv): its API
server and its DAG processor, with MWAA's auth manager (FAB) and a Viewer user, over a SQLite metadata
database. The DAG folder is filled from the environment's bucket by a copier that works the way MWAA
describes its own: every `copy_interval` seconds (30 s on MWAA) new and changed objects under `dags/`
are copied to the container and deleted ones removed. A copied file gets the object's LastModified as
its modification time, as `aws s3 sync` gives it (MWAA does not document which time its copy sets; this
is the one that makes Airflow's "changed since its last parse" check the slowest).

The migrated database with its Viewer user is made once per Airflow venv and copied for each run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from dagtools.check.airflow_venv import CheckTarget, airflow_python, bytecode_cache
from dagtools.live.wait import MWAA_COPY_INTERVAL
from dagtools.local.command import config_options

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
VIEWER = ("viewer", "viewer-password")  # the user InvokeRestApi calls Airflow as, for a Viewer role ARN
JWT_SECRET = "emulation-only-jwt-secret-of-32-bytes-or-more"  # noqa: S105 - a local test server's
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environ(python: Path, home: Path, port: int, options: Mapping[str, str]) -> dict[str, str]:
    """Airflow's settings: the environment's own options, then what MWAA fixes (auth manager, database, ...)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ.update(config_options(dict(options)))
    environ.update(
        AIRFLOW_HOME=str(home),
        PYTHONPYCACHEPREFIX=str(bytecode_cache(python)),
        PATH=os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
        AIRFLOW__CORE__AUTH_MANAGER=FAB_AUTH_MANAGER,
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__SECRET_KEY=JWT_SECRET,
        AIRFLOW__API_AUTH__JWT_SECRET=JWT_SECRET,
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    return environ


def _template_database(python: Path, version: str) -> Path:
    """A migrated database with the Viewer user, made once per venv (a stamp holds the venv's own stamp)."""
    folder = python.parents[1] / ".mwaa-emulation"
    template, stamp = folder / "airflow.db", folder / ".made-for"
    wanted = (python.parents[1] / ".installed").read_text()
    folder.mkdir(exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if template.is_file() and stamp.is_file() and stamp.read_text() == wanted:
            return template
        work = folder / "home"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        environ = _environ(python, work, free_port(), {})
        airflow = str(python.with_name("airflow"))
        for command in (
            [airflow, "db", "migrate"],
            [
                airflow,
                "users",
                "create",
                "--role",
                "Viewer",
                "--username",
                VIEWER[0],
                "--password",
                VIEWER[1],
                "--email",
                "viewer@example.com",
                "--firstname",
                "Viewer",
                "--lastname",
                "Viewer",
            ],
        ):
            done = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command[:3])} failed for Airflow {version}:\n{done.stdout[-3000:]}")
        shutil.move(work / "airflow.db", template)
        shutil.rmtree(work)
        stamp.write_text(wanted)
        return template


class BucketCopier:
    """MWAA's copy of `s3://bucket/prefix` to the containers' DAG folder, every `interval` seconds."""

    def __init__(self, s3: Any, bucket: str, prefix: str, folder: Path, interval: float) -> None:
        self.s3, self.bucket, self.prefix, self.folder, self.interval = s3, bucket, prefix, folder, interval
        self.etags: dict[str, str] = {}
        self.last_copy = time.time()  # when the latest copy started
        self.held = threading.Event()  # set: copies wait (a test that needs Airflow to act before MWAA copies)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="mwaa-copier")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.held.is_set():
                with contextlib.suppress(Exception):  # a bucket being emptied between list and get: next round
                    self.copy_once()
            self._stop.wait(self.interval)

    def copy_once(self) -> None:
        self.last_copy = time.time()
        listed: dict[str, tuple[str, str]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.prefix) :]
                if relative and not relative.endswith("/"):
                    listed[relative] = (item["ETag"], item["LastModified"])
        for relative, (etag, modified) in listed.items():
            if self.etags.get(relative) == etag:
                continue
            target = self.folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            body = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + relative)["Body"].read()
            partial = target.with_name(f".{target.name}.copying")
            partial.write_bytes(body)
            stamp = modified.timestamp() if isinstance(modified, datetime) else time.time()
            os.utime(partial, (stamp, stamp))
            partial.replace(target)
            self.etags[relative] = etag
        for relative in set(self.etags) - set(listed):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / relative).unlink()
            del self.etags[relative]


class AirflowEmulation:
    """One environment's API server and DAG processor, with the bucket copied in; a context manager."""

    def __init__(
        self,
        version: str,
        workdir: Path,
        *,
        s3: Any,
        bucket: str,
        options: Mapping[str, str],
        copy_interval: float = MWAA_COPY_INTERVAL,
        prefix: str = "dags/",
    ) -> None:
        self.version = version
        self.home = workdir
        self.options = dict(options)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.python = airflow_python(CheckTarget(version, None, None, ()))
        self.copier = BucketCopier(s3, bucket, prefix, workdir / "dags", copy_interval)
        self.processes: list[subprocess.Popen[bytes]] = []
        self._token: str | None = None

    def __enter__(self) -> AirflowEmulation:
        (self.home / "dags").mkdir(parents=True, exist_ok=True)
        shutil.copy(_template_database(self.python, self.version), self.home / "airflow.db")
        environ = _environ(self.python, self.home, self.port, self.options)
        airflow = str(self.python.with_name("airflow"))
        for name, command in (
            ("api-server", [airflow, "api-server", "--apps", "core"]),
            ("dag-processor", [airflow, "dag-processor"]),
        ):
            with (self.home / f"{name}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                )
        self.copier.start()
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.copier.stop()
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"Airflow {self.version} stopped at start; see the logs in {self.home}")
            health = f"{self.url}/api/v2/monitor/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Airflow {self.version} did not start within {START_TIMEOUT:.0f} s; see {self.home}"
                )
            time.sleep(0.5)

    def token(self, *, renew: bool = False) -> str:
        """A JWT for the Viewer user, from the FAB auth manager's token endpoint."""
        if self._token is None or renew:
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{self.url}/auth/token",
                data=json.dumps({"username": VIEWER[0], "password": VIEWER[1]}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                self._token = str(json.loads(answer.read())["access_token"])
        return self._token

    def request(self, method: str, path: str, query: str, body: bytes | None, timeout: float) -> tuple[int, Any]:
        """One call to Airflow's REST API v2 as the Viewer: (status, the JSON it answered)."""
        for attempt in range(2):
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{self.url}/api/v2{path}" + (f"?{query}" if query else ""),
                data=body,
                headers={
                    "Authorization": f"Bearer {self.token(renew=attempt > 0)}",
                    "Accept": "application/json",
                    **({"Content-Type": "application/json"} if body is not None else {}),
                },
                method=method,
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback
                    return answer.status, json.loads(answer.read() or b"null")
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 0:
                    continue
                payload = error.read()
                try:
                    return error.code, json.loads(payload)
                except ValueError:
                    return error.code, {"detail": payload.decode(errors="replace")}
        raise AssertionError("unreachable")
