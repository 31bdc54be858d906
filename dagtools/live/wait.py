"""After a sync: wait until the environment's Airflow serves what was uploaded, through its REST API.

MWAA copies the bucket's `dags/` to its containers about every 30 s; Airflow's DAG processor then
parses a changed file soon after it lands (its modification time is newer than its last parse) or at
the latest after `min_file_process_interval`, and finds a new file at its next bundle refresh
(`dag_processor.refresh_interval`). The wait asks until each uploaded DAG file is

- live: every DAG the DAG check found in it is listed by Airflow from that file and, for a file that
  existed before, serves the uploaded source (`/dagSources/<dag_id>`, compared as Airflow reads the
  file: universal newlines). A DAG id too long for InvokeRestApi's 64-character `Path` is judged by
  its parse time instead: parsed after the new content must have reached the containers;
- failed: Airflow reports an import error that comes from the uploaded content, not from a re-parse
  of the old copy before MWAA replaced it (Airflow rewrites a failing file's error timestamp at every
  parse): an error counts when the file had none before the sync, when its traceback differs from the
  one before, or when it was written after the new content must have reached the containers;
- or still pending when the timeout passes.

Which files define which DAGs comes from the DAG check's index (the real Airflow's parse), so helper
modules and files in `.airflowignore` are not waited for. Each round asks at most `calls_per_round`
questions however many DAGs the environment holds: import errors and DAG rows are asked for many files
at once (Airflow's `|`-separated search patterns), sources one DAG at a time; what does not fit in a
round goes first in the next. A throttled round doubles the pause before the next one.
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from aws_clients import error_code

MWAA_COPY_INTERVAL = 30.0  # seconds between MWAA's copies of the bucket's dags/ to its containers (user guide)
CALLS_PER_ROUND = 20  # InvokeRestApi calls one round of the wait may make
PAGE = 100  # Airflow's default page size for list endpoints
PATH_MAX = 64  # InvokeRestApi's Path, at most 64 characters (the MWAA API reference)
SOURCE_PATH = "/dagSources/"
PATTERN_MAX = 1000  # characters in one `|`-joined search pattern
MAX_PAUSE = 60.0  # the longest pause between rounds while throttled
COPY_SLACK = 5.0  # seconds MWAA's copy itself may take, on top of its interval
# Seconds one small DAG file takes to parse (0.16 s measured for 500 files by `make bench`), with room.
PARSE_SECONDS = 0.25
THROTTLING = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})


class LiveError(Exception):
    """The environment could not be asked (not found, not allowed, its web server down, throttled)."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class DagIndexError(Exception):
    """The DAG check's index is missing, unreadable or older than the files: the wait would guess."""


@dataclass(frozen=True)
class DagIndex:
    """What the DAG check found for one environment: each parsed file's hash, DAG ids and whether it
    imports, and the files Airflow never parses (.airflowignore)."""

    files: dict[str, dict[str, Any]]
    ignored: frozenset[str]

    @classmethod
    def read(cls, path: Path, environment: str | None) -> DagIndex:
        try:
            environments = json.loads(path.read_text())["environments"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DagIndexError(f"cannot read the DAG check's index {path}: {error}") from None
        if environment is None and len(environments) == 1:
            environment = next(iter(environments))
        if environment not in environments:
            raise DagIndexError(
                f"the DAG check's index {path} has no environment {environment!r} "
                f"(it has {', '.join(sorted(environments)) or 'none'}); pass --environment"
            )
        entry = environments[environment]
        return cls(files=entry["files"], ignored=frozenset(entry["ignored"]))

    def verify(self, hashes: dict[str, str]) -> None:
        """Refuse (before any request) when a file Airflow will parse is not the one the check parsed."""
        stale = sorted(
            path
            for path, sha256 in hashes.items()
            if path.endswith((".py", ".zip"))
            and path not in self.ignored
            and self.files.get(path, {}).get("sha256") != sha256
        )
        if stale:
            raise DagIndexError(
                f"{', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''} is not what the DAG check parsed "
                "(missing from its index, or changed since): run the check again with --index"
            )

    def uploads(self, contents: dict[str, bytes], added: set[str]) -> list[Upload]:
        """The uploaded files Airflow will parse (after `verify`), with the DAGs the check found in them."""
        return [
            Upload(path, content, tuple(self.files[path]["dag_ids"]), path in added, bool(self.files[path]["imports"]))
            for path, content in sorted(contents.items())
            if path.endswith((".py", ".zip")) and path not in self.ignored
        ]


class AirflowReader(Protocol):
    def get(self, path: str, query: dict[str, Any]) -> dict[str, Any]: ...


class InvokeRestApi:
    """GET requests to one environment's Airflow REST API through MWAA's InvokeRestApi (the caller may
    only call it as Airflow's Viewer). Works wherever the web server may be reached: a public one
    from anywhere, a private one only from within its VPC."""

    def __init__(self, client: Any, environment_name: str) -> None:
        self.client = client
        self.environment_name = environment_name

    def get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        where = f"InvokeRestApi GET {path} on {self.environment_name}"
        try:
            response = self.client.invoke_rest_api(
                Name=self.environment_name, Path=path, Method="GET", QueryParameters=query
            )
        except Exception as error:
            raise LiveError(f"{where}: {error}", throttled=error_code(error) in THROTTLING) from None
        return _object(response.get("RestApiResponse"), where)


class ReaderFunction:
    """The same requests, asked by the environment's DAG reader function, which runs inside its VPC:
    how a private web server is reached (stages/lambda/dag_reader/index.py)."""

    def __init__(self, client: Any, function_name: str) -> None:
        self.client = client
        self.function_name = function_name

    def get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        where = f"{self.function_name} GET {path}"
        payload = json.dumps({"Path": path, "QueryParameters": query}).encode()
        try:
            response = self.client.invoke(FunctionName=self.function_name, Payload=payload)
        except Exception as error:
            raise LiveError(f"{where}: {error}", throttled=error_code(error) in THROTTLING) from None
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise LiveError(f"{where}: the function failed: {body.decode(errors='replace')[:500]}")
        answer = _object(json.loads(body or b"null"), where)
        if "Error" in answer:
            failure = answer["Error"]
            code = str(failure.get("Code"))
            raise LiveError(f"{where}: {code}: {failure.get('Message')}", throttled=code in THROTTLING)
        return _object(answer.get("RestApiResponse"), where)


def _object(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise LiveError(f"{where}: no JSON object in the answer")
    return body


def airflow_source(content: bytes) -> str:
    """A file's text as Airflow stores it: read with universal newlines (CRLF and CR become LF)."""
    return content.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def parse_time(text: Any) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def source_fits(dag_id: str) -> bool:
    """Whether `/dagSources/<dag_id>` fits InvokeRestApi's Path (Airflow allows 250-character DAG ids)."""
    return len(SOURCE_PATH + urllib.parse.quote(dag_id, safe="")) <= PATH_MAX


@dataclass(frozen=True)
class Upload:
    """A DAG file the sync uploaded: its content, the DAGs the check found in it, and whether it is new."""

    path: str
    content: bytes
    dag_ids: tuple[str, ...]
    added: bool
    imports: bool = True  # False: the check saw it fail; waited for until the environment reports why

    def sources(self) -> set[str]:
        """What Airflow may serve as the source of its DAGs: the file, or each module of a zipped one."""
        if not self.path.endswith(".zip"):
            return {airflow_source(self.content)}
        with zipfile.ZipFile(io.BytesIO(self.content)) as archive:
            return {airflow_source(archive.read(n)) for n in archive.namelist() if n.endswith(".py")}


@dataclass(frozen=True)
class Timings:
    """How long the environment takes to see a file, from its Airflow options (Airflow's defaults else)."""

    copy_interval: float  # MWAA's copy of the bucket to the containers (30 s)
    refresh_interval: float  # dag_processor.refresh_interval: when new files are found
    file_process_interval: float  # dag_processor.min_file_process_interval: re-parse of known files
    import_timeout: float  # core.dagbag_import_timeout: the longest one file's parse may take
    parsing_processes: int  # dag_processor.parsing_processes: files parsed side by side

    @classmethod
    def from_options(cls, options: dict[str, str], copy_interval: float) -> Timings:
        def seconds(key: str, default: float) -> float:
            try:
                return float(options.get(key, default))
            except ValueError:
                return default

        return cls(
            copy_interval=copy_interval,
            refresh_interval=seconds("dag_processor.refresh_interval", 300),
            file_process_interval=seconds("dag_processor.min_file_process_interval", 30),
            import_timeout=seconds("core.dagbag_import_timeout", 30),
            parsing_processes=max(int(seconds("dag_processor.parsing_processes", 2)), 1),
        )

    @property
    def copy_lag(self) -> float:
        """Seconds after the sync by which the containers hold the uploaded content."""
        return self.copy_interval + COPY_SLACK

    def timeout(self, uploads: list[Upload], *, interval: float, calls_per_round: int) -> float:
        """The wait's deadline: the copy, the slower of finding a new file and re-parsing a known one,
        the parse of every upload (one file at most the import timeout), and the rounds the questions
        take at `calls_per_round` (sources one by one), with half a minute to spare."""
        sources = sum(len(u.dag_ids) for u in uploads if not u.added)
        rounds = 2 + -(-sources // max(calls_per_round - 2, 1))
        found = max(self.refresh_interval, self.file_process_interval)
        parse = self.import_timeout + len(uploads) * PARSE_SECONDS / self.parsing_processes
        return round(self.copy_lag + found + parse + rounds * interval + 30)


@dataclass
class LiveResult:
    live: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> Airflow's stack trace
    pending: list[str] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0
    rounds: int = 0
    most_calls_in_a_round: int = 0
    throttled_rounds: int = 0
    last_error: str | None = None  # why the last question went unanswered (an update under way, say)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending


def _batches(terms: Iterable[str]) -> Iterator[list[str]]:
    """Terms joined by `|` into search patterns of at most PATTERN_MAX characters (Airflow splits on `|`)."""
    batch: list[str] = []
    length = 0
    for term in terms:
        if "|" in term or term != term.strip():
            continue  # not expressible in a search pattern; its DAG rows still tell whether it is live
        if batch and length + len(term) + 1 > PATTERN_MAX:
            yield batch
            batch, length = [], 0
        batch.append(term)
        length += len(term) + 1
    if batch:
        yield batch


def _search(
    get: Callable[[str, dict[str, Any]], dict[str, Any] | None], path: str, key: str, search: dict[str, str]
) -> list[dict[str, Any]] | None:
    """Every item a list endpoint answers for `search`, page by page; None when `get` refused a page (its
    budget ran out). Airflow's `*_pattern` search is ILIKE '%term%': the caller keeps the exact matches."""
    items: list[dict[str, Any]] = []
    while True:
        body = get(path, {**search, "limit": PAGE, "offset": len(items)})
        if body is None:
            return None
        page = body.get(key, [])
        items += page
        if not page or len(items) >= int(body.get("total_entries", 0)):
            return items


class _Round:
    """The questions one round may still ask."""

    def __init__(self, reader: AirflowReader, budget: int) -> None:
        self.reader = reader
        self.left = budget
        self.asked = 0

    def get(self, path: str, query: dict[str, Any]) -> dict[str, Any] | None:
        if self.left <= 0:
            return None
        self.left -= 1
        self.asked += 1
        return self.reader.get(path, query)


def all_import_errors(reader: AirflowReader) -> list[dict[str, Any]]:
    """Every import error the environment reports (`dagtools status`), page by page."""
    return _search(reader.get, "/importErrors", "import_errors", {}) or []


def import_errors_of(reader: AirflowReader, paths: list[str]) -> dict[str, str]:
    """The import errors Airflow reports now for `paths`: path -> stack trace (the baseline of a sync)."""
    found: dict[str, str] = {}
    wanted = set(paths)
    for batch in _batches(sorted(wanted)):
        for error in _search(reader.get, "/importErrors", "import_errors", {"filename_pattern": "|".join(batch)}) or []:
            if error.get("filename") in wanted:
                found[str(error["filename"])] = str(error.get("stack_trace", ""))
    return found


class LiveWait:
    """The state of one wait: what is pending, which DAGs serve their new source, what is queued."""

    def __init__(
        self, uploads: list[Upload], *, baseline: dict[str, str] | None, synced_at: float, copy_lag: float
    ) -> None:
        self.uploads = {u.path: u for u in uploads if u.dag_ids or not u.imports}
        self.sources = {path: upload.sources() for path, upload in self.uploads.items()}
        self.baseline = baseline
        self.synced_at = synced_at
        self.copy_lag = copy_lag
        self.rows: dict[str, dict[str, Any]] = {}  # dag_id -> Airflow's latest row for it
        self.served: set[str] = set()  # DAG ids of changed files that served the uploaded source
        self.questions: deque[tuple[str, str]] = deque()  # what the rounds ask in turn: (kind, item)
        self.result = LiveResult(pending=sorted(self.uploads))

    def ask(self, reader: AirflowReader, budget: int) -> None:
        """One round: what the last round left queued, then (once a round) a new cycle of questions."""
        asked = _Round(reader, budget)
        cycled = False
        try:
            while self.result.pending:
                if not self.questions:
                    if cycled:
                        return  # Airflow's answers will not change within one round
                    self._new_cycle()
                    cycled = True
                kind, item = self.questions[0]
                if not self._answer(asked, kind, item):
                    return  # the budget ran out (or the call failed): the same question opens the next round
                self.questions.remove((kind, item))
        finally:
            self.result.calls += asked.asked
            self.result.most_calls_in_a_round = max(self.result.most_calls_in_a_round, asked.asked)

    def _new_cycle(self) -> None:
        pending = self.result.pending
        self.questions.extend(("errors", "|".join(batch)) for batch in _batches(pending))
        dag_ids = sorted({d for p in pending for d in self.uploads[p].dag_ids})
        self.questions.extend(("rows", "|".join(batch)) for batch in _batches(dag_ids))

    def _answer(self, asked: _Round, kind: str, item: str) -> bool:
        if kind == "errors":
            errors = _search(asked.get, "/importErrors", "import_errors", {"filename_pattern": item})
            if errors is None:
                return False
            for error in errors:
                self._judge_error(error)
        elif kind == "rows":
            rows = _search(asked.get, "/dags", "dags", {"dag_id_pattern": item})
            if rows is None:
                return False
            for row in rows:
                self.rows[str(row.get("dag_id"))] = row
        elif kind == "source":
            body = asked.get(SOURCE_PATH + urllib.parse.quote(item, safe=""), {})
            if body is None:
                return False
            path = self._file_of(item)
            if path and str(body.get("content")) in self.sources[path]:
                self.served.add(item)
        self._judge_files()
        return True

    def _file_of(self, dag_id: str) -> str | None:
        return next((p for p in self.result.pending if dag_id in self.uploads[p].dag_ids), None)

    def _judge_error(self, error: dict[str, Any]) -> None:
        path = str(error.get("filename", ""))
        if path not in self.result.pending or parse_time(error.get("timestamp")) < self.synced_at:
            return
        trace = str(error.get("stack_trace", "")).strip()
        before = None if self.baseline is None else self.baseline.get(path)
        # Before MWAA copies the new content, Airflow may re-parse the old copy and rewrite its error:
        # that error is the new content's only if it differs, was not there before, or came later.
        from_new_content = (
            self.uploads[path].added
            or (self.baseline is not None and (before is None or before.strip() != trace))
            or parse_time(error["timestamp"]) >= self.synced_at + self.copy_lag
        )
        if from_new_content:
            self.result.pending.remove(path)
            self.result.failed[path] = trace

    def _judge_files(self) -> None:
        """Files whose DAGs are all served from the new content go live; sources to check are queued."""
        for path in list(self.result.pending):
            upload = self.uploads[path]
            if upload.imports and all(self._live(upload, dag_id) for dag_id in upload.dag_ids):
                self.result.pending.remove(path)
                self.result.live.append(path)

    def _live(self, upload: Upload, dag_id: str) -> bool:
        row = self.rows.get(dag_id)
        if row is None or row.get("is_stale"):
            return False
        location = str(row.get("relative_fileloc") or "")
        if location != upload.path and not location.startswith(upload.path + "/"):  # a zip's module: x.zip/m.py
            return False
        parsed = parse_time(row.get("last_parsed_time")) if row.get("last_parsed_time") else 0.0
        if parsed < self.synced_at:
            return False
        if upload.added:
            return True  # a new file has no old content Airflow could have parsed
        if not source_fits(dag_id):
            started = parsed - float(row.get("last_parse_duration") or 0)
            return started >= self.synced_at + self.copy_lag
        if dag_id in self.served:
            return True
        if ("source", dag_id) not in self.questions:
            self.questions.appendleft(("source", dag_id))
        return False


def wait_until_live(
    reader: AirflowReader,
    uploads: list[Upload],
    *,
    baseline: dict[str, str] | None,
    synced_at: float,
    timeout: float,
    copy_lag: float,
    interval: float = 5.0,
    calls_per_round: int = CALLS_PER_ROUND,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveResult:
    """Ask round after round until every uploaded DAG file is live or failed, or `timeout` seconds have
    passed since `synced_at` (the epoch time the sync finished)."""
    wait = LiveWait(uploads, baseline=baseline, synced_at=synced_at, copy_lag=copy_lag)
    result = wait.result
    pause = interval
    while True:
        try:
            wait.ask(reader, calls_per_round)
            result.last_error = None
            pause = interval
        except LiveError as error:  # the web server restarting during an update: ask again
            result.last_error = str(error)
            if error.throttled:
                result.throttled_rounds += 1
                pause = min(pause * 2, MAX_PAUSE)
            else:
                pause = interval
        result.rounds += 1
        result.seconds = max(0.0, clock() - synced_at)
        if not result.pending or result.seconds + pause > timeout:
            return result
        sleep(pause)


def airflow_reader(session: Any, environment_name: str, reader_function: str | None) -> AirflowReader:
    """Airflow's REST API of one environment: through MWAA's InvokeRestApi, or through the environment's
    reader function inside its VPC when its web server is private. No retries inside a call: a throttled
    or failed call ends the wait's round, which pauses longer when throttled, so every call counts."""
    from botocore.config import Config

    from aws_clients import mwaa_client

    if reader_function:
        once = Config(retries={"mode": "standard", "total_max_attempts": 1})
        return ReaderFunction(session.client("lambda", config=once), reader_function)
    return InvokeRestApi(mwaa_client(session, attempts=1), environment_name)
