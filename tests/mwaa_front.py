"""MWAA's API in front of real Airflow API servers, over HTTP, enforcing the API's documented contract.

boto3's `mwaa` client talks to it as to AWS (`AWS_ENDPOINT_URL_MWAA`). It answers `InvokeRestApi`
(`POST /restapi/{Name}`) and `GetEnvironment` (`GET /environments/{Name}`) and holds to what AWS
documents, not to what our client expects:

- Requests are checked against botocore's MWAA model, the API reference in machine form: required
  members, string lengths (`Path` 1-64 characters, `Name` 1-80), patterns and enums, answered with
  `ValidationException` in AWS's wording. Requests must be SigV4-signed for the `airflow` service.
- Airflow's answer comes back as the model says: 2xx as `RestApiStatusCode` and `RestApiResponse`,
  4xx as `RestApiClientException` and 5xx as `RestApiServerException` (both HTTP 400, with Airflow's
  status and body), an unknown environment as `ResourceNotFoundException`, an Airflow that does not
  answer within the call's 10 s (the user guide's timeout) as `InternalServerException`.
- A `PRIVATE_ONLY` environment refuses calls from outside its VPC (the user guide: with a private web
  server, InvokeRestApi cannot be invoked from outside the VPC). The front listens twice: `url` is the
  public endpoint, `vpc_url` the `airflow.env` interface endpoint inside the environments' VPC. AWS
  does not document the error; the front answers `AccessDeniedException`.
- A request rate above the configured one is refused with `ThrottlingException` (AWS's common error,
  HTTP 400); MWAA publishes no rate for InvokeRestApi, so tests set one.

Behind each environment is a real Airflow (tests/airflow_emulation.py), called as its Viewer: the
Airflow role the role ARN in `airflow:InvokeRestApi` names.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session

INVOKE_TIMEOUT = 10.0  # seconds: "The default timeout for the InvokeRestApi operation is 10 seconds" (user guide)
SIGV4 = re.compile(r"AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/[a-z0-9-]+/airflow/aws4_request,")


def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("mwaa")


def constraint_problems(shape: Any, value: Any, where: str) -> list[str]:
    """Every violation of the model's constraints on `value`, in AWS's ValidationException wording."""
    problems: list[str] = []
    if shape.type_name == "structure":
        if shape.metadata.get("document"):
            return problems
        if not isinstance(value, dict):
            return [f"Value at '{where}' failed to satisfy constraint: Member must be an object"]
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_child(where, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, member in shape.members.items():
            if name in value and value[name] is not None and member.serialization.get("location") != "uri":
                problems += constraint_problems(member, value[name], _child(where, name))
        return problems
    if shape.type_name == "string":
        if not isinstance(value, str):
            return [f"Value at '{where}' failed to satisfy constraint: Member must be a string"]
        shown = f"Value '{value}' at '{where}' failed to satisfy constraint: Member must"
        if "min" in shape.metadata and len(value) < shape.metadata["min"]:
            problems.append(f"{shown} have length greater than or equal to {shape.metadata['min']}")
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            problems.append(f"{shown} have length less than or equal to {shape.metadata['max']}")
        if "pattern" in shape.metadata and not re.fullmatch(shape.metadata["pattern"], value):
            problems.append(f"{shown} satisfy regular expression pattern: {shape.metadata['pattern']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{shown} satisfy enum value set: [{', '.join(shape.enum)}]")
    return problems


def _child(where: str, name: str) -> str:
    return f"{where}.{name[0].lower()}{name[1:]}" if where else f"{name[0].lower()}{name[1:]}"


def validation_message(problems: list[str]) -> str:
    count = len(problems)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)


@dataclass
class FrontEnvironment:
    """One environment as MWAA knows it: its Airflow (None: not answering), access mode and status."""

    name: str
    airflow: Any
    access_mode: str = "PUBLIC_ONLY"
    status: str = "AVAILABLE"
    last_error: str = ""


@dataclass
class Call:
    """One InvokeRestApi request as the front received it."""

    environment: str
    path: str
    query: dict[str, Any]
    through_vpc: bool
    answer: str  # the HTTP status of the answer, or the error code


@dataclass
class TokenBucket:
    """At most `rate` calls a second on average, `burst` at once."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class MwaaFront:
    """`with MwaaFront() as front:`, `front.add(FrontEnvironment(...))`, then point boto3 at `front.url`."""

    def __init__(self, *, region: str = "eu-west-1", account: str = "123456789012") -> None:
        self.region, self.account = region, account
        self.environments: dict[str, FrontEnvironment] = {}
        self.calls: list[Call] = []
        self.throttle: TokenBucket | None = None
        self.lock = threading.Lock()
        model = _service_model()
        self.invoke_input = model.operation_model("InvokeRestApi").input_shape
        self.get_input = model.operation_model("GetEnvironment").input_shape
        self.public = self._server(through_vpc=False)
        self.vpc = self._server(through_vpc=True)
        self.url = f"http://127.0.0.1:{self.public.server_address[1]}"
        self.vpc_url = f"http://127.0.0.1:{self.vpc.server_address[1]}"

    def add(self, environment: FrontEnvironment) -> FrontEnvironment:
        self.environments[environment.name] = environment
        return environment

    def calls_to(self, environment: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.environment == environment]

    def __enter__(self) -> MwaaFront:
        for server in (self.public, self.vpc):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.public, self.vpc):
            server.shutdown()
            server.server_close()

    def _server(self, *, through_vpc: bool) -> ThreadingHTTPServer:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(front.get_environment)

            def do_POST(self) -> None:
                self._answer(lambda path, body, auth: front.invoke(path, body, auth, through_vpc=through_vpc))

            def _answer(self, operation: Callable[[str, bytes, str], tuple[int, dict[str, Any], str | None]]) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload, error = operation(self.path, body, self.headers.get("Authorization", ""))
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

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    # --- the operations ---------------------------------------------------------------------------

    def get_environment(self, path: str, body: bytes, auth: str) -> tuple[int, dict[str, Any], str | None]:
        name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        refused = self._refused(auth, self.get_input, {"Name": name})
        if refused:
            return refused
        environment = self.environments.get(name)
        if not path.startswith("/environments/") or environment is None:
            return 404, {"message": f"Environment {name} not found"}, "ResourceNotFoundException"
        answer: dict[str, Any] = {
            "Name": name,
            "Arn": f"arn:aws:airflow:{self.region}:{self.account}:environment/{name}",
            "Status": environment.status,
            "WebserverAccessMode": environment.access_mode,
        }
        if environment.last_error:
            answer["LastUpdate"] = {"Status": "FAILED", "Error": {"ErrorMessage": environment.last_error}}
        return 200, {"Environment": answer}, None

    def invoke(self, path: str, body: bytes, auth: str, *, through_vpc: bool) -> tuple[int, dict[str, Any], str | None]:
        name = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"message": "Could not parse the request body as JSON"}, "ValidationException"
        answer = self._invoke(path, name, request, auth, through_vpc=through_vpc)
        with self.lock:
            self.calls.append(
                Call(
                    name,
                    str(request.get("Path")) if isinstance(request, dict) else "",
                    dict(request.get("QueryParameters") or {}) if isinstance(request, dict) else {},
                    through_vpc,
                    answer[2] or str(answer[0]),
                )
            )
        return answer

    def _invoke(
        self, path: str, name: str, request: Any, auth: str, *, through_vpc: bool
    ) -> tuple[int, dict[str, Any], str | None]:
        if not path.startswith("/restapi/"):
            return 404, {"message": "Not found"}, "ResourceNotFoundException"
        refused = self._refused(
            auth, self.invoke_input, {**(request if isinstance(request, dict) else {}), "Name": name}
        )
        if refused:
            return refused
        with self.lock:
            if self.throttle and not self.throttle.take():
                return 400, {"message": "Rate exceeded"}, "ThrottlingException"
        environment = self.environments.get(name)
        if environment is None:
            return 404, {"message": f"Environment {name} not found"}, "ResourceNotFoundException"
        if environment.access_mode == "PRIVATE_ONLY" and not through_vpc:
            return (
                403,
                {"Message": f"The web server of {name} is private: InvokeRestApi must be called from within its VPC"},
                "AccessDeniedException",
            )
        if environment.airflow is None:
            return 500, {"message": "An internal error occurred"}, "InternalServerException"
        method, api_path = request["Method"], request["Path"]
        query = urllib.parse.urlencode(
            [
                (key, str(item))
                for key, value in (request.get("QueryParameters") or {}).items()
                for item in _listed(value)
            ]
        )
        payload = json.dumps(request["Body"]).encode() if request.get("Body") is not None else None
        try:
            status, response = environment.airflow.request(method, api_path, query, payload, INVOKE_TIMEOUT)
        except OSError:  # refused, reset or timed out: the web server did not answer
            return 500, {"message": "An internal error occurred"}, "InternalServerException"
        if status >= 500:
            return 400, {"RestApiStatusCode": status, "RestApiResponse": response}, "RestApiServerException"
        if status >= 400:
            return 400, {"RestApiStatusCode": status, "RestApiResponse": response}, "RestApiClientException"
        return 200, {"RestApiStatusCode": status, "RestApiResponse": response}, None

    def _refused(self, auth: str, shape: Any, request: dict[str, Any]) -> tuple[int, dict[str, Any], str] | None:
        if not SIGV4.match(auth):
            return 403, {"message": "Missing or invalid SigV4 authentication for airflow"}, "AccessDeniedException"
        problems = constraint_problems(shape, request, "")
        name_shape = shape.members["Name"]
        problems = constraint_problems(name_shape, request.get("Name"), "name") + problems
        if problems:
            return 400, {"message": validation_message(problems)}, "ValidationException"
        return None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
