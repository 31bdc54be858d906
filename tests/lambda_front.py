"""AWS Lambda's Invoke over HTTP, running our real handler code, for the DAG reader of private environments.

boto3's `lambda` client talks to it as to AWS (`AWS_ENDPOINT_URL_LAMBDA`). It answers `Invoke`
(`POST /2015-03-31/functions/{FunctionName}/invocations`) the way Lambda documents it:

- The request is checked against botocore's Lambda model (FunctionName 1-170 characters and its
  pattern, InvocationType's enum) and the synchronous payload quota (6 MB each way, Lambda's quotas
  page); an unknown function is `ResourceNotFoundException` (404).
- The handler runs in a process of its own with the function's environment variables, kept warm
  between invocations like an execution environment. `RequestResponse` answers 200 with the handler's
  JSON; a handler that raises, or runs past its timeout, answers 200 with `X-Amz-Function-Error:
  Unhandled` and Lambda's error document. `Event` answers 202 and `DryRun` 204.

A function placed in an environment's VPC reaches MWAA's API through `vpc_url` of tests/mwaa_front.py,
as the `airflow.env` interface endpoint with private DNS serves it inside the VPC.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session

PAYLOAD_MAX = 6 * 1024 * 1024  # bytes, synchronous invocation request and response (Lambda quotas)
INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
RUNNER = """
import importlib.util, json, sys, traceback
spec = importlib.util.spec_from_file_location("handler_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for line in sys.stdin:
    try:
        print(json.dumps({"result": getattr(module, sys.argv[2])(json.loads(line), None)}), flush=True)
    except Exception as error:
        print(json.dumps({"error": {"errorMessage": str(error), "errorType": type(error).__name__,
                                    "stackTrace": traceback.format_exc().splitlines()}}), flush=True)
"""


@dataclass
class Function:
    """A deployed function: its code file and handler, environment variables and timeout."""

    name: str
    code: Path
    handler: str
    environment: dict[str, str]
    timeout: float = 30.0
    invocations: int = 0
    process: subprocess.Popen[str] | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def invoke(self, payload: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the handler's answer, or Lambda's error document when it raised or timed out)."""
        with self.lock:
            self.invocations += 1
            if self.process is None or self.process.poll() is not None:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", RUNNER, str(self.code), self.handler],
                    env=self.environment,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            assert self.process.stdin and self.process.stdout
            self.process.stdin.write(payload.decode() + "\n")
            self.process.stdin.flush()
            answer: list[str] = []
            reader = threading.Thread(target=lambda: answer.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
            reader.start()
            reader.join(self.timeout)
            if not answer:
                self.process.kill()
                self.process = None
                return None, {"errorMessage": f"Task timed out after {self.timeout:.2f} seconds"}
            outcome = json.loads(answer[0])
            return outcome.get("result"), outcome.get("error")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class LambdaFront:
    """`with LambdaFront() as front:`, `front.deploy(Function(...))`, then point boto3 at `front.url`."""

    def __init__(self) -> None:
        self.functions: dict[str, Function] = {}
        model = botocore.session.get_session().get_service_model("lambda")
        self.input = model.operation_model("Invoke").input_shape
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = front.invoke(self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def deploy(self, function: Function) -> Function:
        self.functions[function.name] = function
        return function

    def __enter__(self) -> LambdaFront:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        for function in self.functions.values():
            function.stop()

    def invoke(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        from tests.mwaa_front import constraint_problems, validation_message

        match = INVOKE_PATH.fullmatch(path.split("?", 1)[0])
        if not match:
            return _error(404, "ResourceNotFoundException", f"no such operation: {path}")
        name = match["name"]
        invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        problems = constraint_problems(self.input.members["FunctionName"], name, "functionName")
        problems += constraint_problems(self.input.members["InvocationType"], invocation_type, "invocationType")
        if problems:
            return _error(400, "ValidationException", validation_message(problems))
        if len(body) > PAYLOAD_MAX:
            return _error(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {PAYLOAD_MAX} bytes for the Invoke operation",
            )
        function = self.functions.get(name.rsplit(":", 1)[-1])
        if function is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        if invocation_type == "DryRun":
            return 204, {}, b""
        if invocation_type == "Event":
            threading.Thread(target=function.invoke, args=(body or b"{}",), daemon=True).start()
            return 202, {}, b""
        result, error = function.invoke(body or b"{}")
        if error is not None:
            return (
                200,
                {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
                json.dumps(error).encode(),
            )
        payload = json.dumps(result).encode()
        if len(payload) > PAYLOAD_MAX:
            too_large = {
                "errorMessage": f"Response payload size exceeded maximum allowed payload size ({PAYLOAD_MAX} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(too_large).encode()
        return 200, {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}, payload


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"x-amzn-ErrorType": code, "Content-Type": "application/json"},
        json.dumps({"Message": message}).encode(),
    )
