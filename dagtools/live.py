"""What the live environment says about the DAGs: MWAA's InvokeRestApi, Airflow's REST API behind it.

After a sync, `wait_until_live` asks the environment until its DAG processor has parsed every
changed DAG file: a file is live when the source Airflow serves for its DAGs is the content just
uploaded, and failed when Airflow reports an import error for it that is newer than the sync.
The environment role used may only call InvokeRestApi as Airflow's Viewer (it reads, nothing else).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagtools.airflow_probe import DAG_DEFINITION

PAGE = 100  # Airflow's default page size for list endpoints


class LiveError(Exception):
    """The environment could not be asked (not found, not allowed, its web server down)."""


class AirflowApi:
    """GET requests to one environment's Airflow REST API through MWAA's InvokeRestApi."""

    def __init__(self, client: Any, environment_name: str) -> None:
        self.client = client
        self.environment_name = environment_name

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        try:
            response = self.client.invoke_rest_api(
                Name=self.environment_name, Path=path, Method="GET", QueryParameters=query
            )
        except Exception as error:
            raise LiveError(f"InvokeRestApi GET {path} on {self.environment_name}: {error}") from None
        body = response.get("RestApiResponse")
        if not isinstance(body, dict):
            raise LiveError(f"InvokeRestApi GET {path} on {self.environment_name}: no JSON object in the answer")
        return body

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body = self.get(path, limit=PAGE, offset=offset)
            items = body.get(key, [])
            yield from items
            offset += len(items)
            if not items or offset >= int(body.get("total_entries", 0)):
                return

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._pages("/importErrors", "import_errors"))

    def dags(self) -> list[dict[str, Any]]:
        return list(self._pages("/dags", "dags"))

    def dag_source(self, dag_id: str) -> str:
        return str(self.get(f"/dagSources/{dag_id}").get("content", ""))


def relative_path(location: str) -> str:
    """A DAG file as Airflow names it (absolute, or relative to the DAG folder) -> its path under dags/."""
    return location.split("/dags/", 1)[1] if "/dags/" in location else location.lstrip("/")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class LiveResult:
    live: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> Airflow's stack trace
    pending: list[str] = field(default_factory=list)
    seconds: float = 0.0
    last_error: str | None = None  # why the last question went unanswered (an update under way, say)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending


def dag_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files that Airflow will list DAGs for (the rest are helpers, data or ignore files), by the
    text the DAG check also reads them by (its DAG002)."""
    return {p: b for p, b in files.items() if p.endswith(".py") and DAG_DEFINITION.search(b)}


def wait_until_live(
    api: AirflowApi,
    changed: dict[str, bytes],
    *,
    synced_at: float,
    timeout: float,
    interval: float = 10.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveResult:
    """Ask until every changed DAG file is parsed with its new content, has a new import error, or
    `timeout` seconds have passed since `synced_at` (the epoch time the sync finished)."""
    result = LiveResult(pending=sorted(dag_files(changed)))
    while True:
        try:
            _ask(api, changed, synced_at, result)
            result.last_error = None
        except LiveError as error:  # the web server restarting during an update: ask again
            result.last_error = str(error)
        result.seconds = max(0.0, clock() - synced_at)
        if not result.pending or result.seconds + interval > timeout:
            return result
        sleep(interval)


def _ask(api: AirflowApi, changed: dict[str, bytes], synced_at: float, result: LiveResult) -> None:
    """One round of questions: new import errors of the pending files, then their DAGs' served source."""
    for error in api.import_errors():
        path = relative_path(str(error.get("filename", "")))
        if path in result.pending and parse_time(str(error.get("timestamp"))) >= synced_at:
            result.pending.remove(path)
            result.failed[path] = str(error.get("stack_trace", "")).strip()
    if not result.pending:
        return
    by_file: dict[str, list[str]] = {}
    for dag in api.dags():
        location = dag.get("relative_fileloc") or dag.get("fileloc") or ""
        by_file.setdefault(relative_path(str(location)), []).append(str(dag["dag_id"]))
    for path in list(result.pending):
        dag_ids = by_file.get(path, [])
        if dag_ids and all(api.dag_source(d) == changed[path].decode(errors="replace") for d in dag_ids):
            result.pending.remove(path)
            result.live.append(path)
