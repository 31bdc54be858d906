"""A local stand-in for MWAA's InvokeRestApi in front of an Airflow 3 REST API, over real HTTP.

boto3's mwaa client talks to it as to AWS (`AWS_ENDPOINT_URL_MWAA`): GET /environments/{Name}
(GetEnvironment) and POST /restapi/{Name} with {Path, Method, QueryParameters}, answered
{RestApiStatusCode, RestApiResponse} in the shapes MWAA and Airflow's REST API v2 document
(`/importErrors`, `/dags`, `/dagSources/{dag_id}`, paginated by limit/offset with total_entries).
Behind it, a DAG processor that reads the environment's bucket (moto's S3) only when told to, the
way MWAA copies the bucket to its containers and then parses: a file defines the DAGs its `@dag`
functions name, and a file containing `raise` at its top level fails with a traceback.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DAGS_FOLDER = "/usr/local/airflow/dags"
DAG_FUNCTION = re.compile(r"^@dag\b.*?^def (\w+)\(", re.MULTILINE | re.DOTALL)
TOP_LEVEL_RAISE = re.compile(r"^raise (.+)$", re.MULTILINE)


class FakeAirflow:
    """What the environment's Airflow knows: parsed DAGs (with their source) and import errors."""

    def __init__(self, s3: Any, bucket: str, environment_name: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.environment_name = environment_name
        self.dags: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, str] = {}
        self.import_errors: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.parse_on_request: int | None = None  # parse the bucket when this request number arrives
        self.status = "AVAILABLE"

    def parse_bucket(self) -> None:
        """One DAG-processor pass over what the bucket holds under dags/."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="dags/").get("Contents", [])
        self.dags, self.sources, self.import_errors = {}, {}, []
        for item in listed:
            relative = item["Key"][len("dags/") :]
            if not relative.endswith(".py"):
                continue
            text = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read().decode()
            failure = TOP_LEVEL_RAISE.search(text)
            if failure:
                self.import_errors.append(
                    {
                        "import_error_id": len(self.import_errors) + 1,
                        "timestamp": now,
                        "filename": relative,
                        "bundle_name": "dags-folder",
                        "stack_trace": f'Traceback (most recent call last):\n  File "{DAGS_FOLDER}/{relative}"\n'
                        f"{failure.group(1)}",
                    }
                )
                continue
            for dag_id in DAG_FUNCTION.findall(text):
                self.dags[dag_id] = {
                    "dag_id": dag_id,
                    "fileloc": f"{DAGS_FOLDER}/{relative}",
                    "relative_fileloc": relative,
                    "bundle_name": "dags-folder",
                    "last_parsed_time": now,
                    "is_paused": True,
                }
                self.sources[dag_id] = text

    def answer(self, path: str, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(path)
        if self.parse_on_request == len(self.requests):
            self.parse_bucket()
        limit, offset = int(query.get("limit", 100)), int(query.get("offset", 0))
        if path == "/importErrors":
            page = self.import_errors[offset : offset + limit]
            return 200, {"import_errors": page, "total_entries": len(self.import_errors)}
        if path == "/dags":
            dags = sorted(self.dags.values(), key=lambda d: d["dag_id"])
            return 200, {"dags": dags[offset : offset + limit], "total_entries": len(dags)}
        if path.startswith("/dagSources/"):
            dag_id = path.rsplit("/", 1)[1]
            if dag_id not in self.sources:
                return 404, {"title": "DAG not found", "status": 404, "type": "about:blank", "detail": dag_id}
            return 200, {"content": self.sources[dag_id], "dag_id": dag_id, "version_number": 1}
        return 404, {"title": "Not Found", "status": 404, "type": "about:blank", "detail": path}


class MwaaServer:
    """`with MwaaServer(airflow) as server:` then point boto3 at `server.url`."""

    def __init__(self, airflow: FakeAirflow) -> None:
        fake = airflow

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[1]
                if not self.path.startswith("/environments/") or name != fake.environment_name:
                    self._send(404, {"message": f"Environment {name} not found"}, error="ResourceNotFoundException")
                    return
                arn = f"arn:aws:airflow:eu-west-1:123456789012:environment/{name}"
                self._send(200, {"Environment": {"Name": name, "Arn": arn, "Status": fake.status}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = self.path.rsplit("/", 1)[1]
                if not self.path.startswith("/restapi/") or name != fake.environment_name:
                    self._send(404, {"message": f"Environment {name} not found"}, error="ResourceNotFoundException")
                    return
                status, response = fake.answer(body["Path"], body.get("QueryParameters") or {})
                if status >= 400:
                    self._send(
                        400,
                        {
                            "message": "Airflow answered an error",
                            "RestApiStatusCode": status,
                            "RestApiResponse": response,
                        },
                        error="RestApiClientException",
                    )
                    return
                self._send(200, {"RestApiStatusCode": status, "RestApiResponse": response})

            def _send(self, status: int, payload: dict[str, Any], error: str | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MwaaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
