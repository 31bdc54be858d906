"""moto's S3 server on 127.0.0.1, behind a small WSGI layer that behaves more like real S3.

moto returns ETag = MD5 of the content even where S3 would not (SSE-KMS, multipart). The layer
gives every PUT a fresh, non-MD5 ETag and shows it in listings and object reads, injects 503
SlowDown and hard failures on demand, counts requests by kind, and can add a fixed per-request
delay (the benchmark's simulated round trip). Used by the tests and by `make bench`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

StartResponse = Callable[..., Any]

_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)
_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)
_ETAG = re.compile(rb"<ETag>(.*?)</ETag>", re.S)

MOTO_ACCOUNT = "123456789012"
SLOWDOWN = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
INTERNAL = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
MANIFEST_SUFFIX = "/.dagsync-manifest.json"


def request_kind(method: str, key: str, query: dict[str, list[str]]) -> str:
    """LIST, GET, HEAD, PUT, DELETE (batched), or OTHER: the request types the sync cares about."""
    if method == "GET" and not key and "list-type" in query:
        return "LIST"
    if method == "GET" and not key:
        return "LIST" if "prefix" in query or not query else "OTHER"
    if method == "POST" and "delete" in query:
        return "DELETE"
    if key and method in ("GET", "HEAD", "PUT", "DELETE"):
        return method
    return "OTHER"


class S3Layer:
    """WSGI middleware around moto's S3 app; state is shared across the server's threads."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.delay = 0.0
        self.slowdowns = 0  # answer the next N requests with 503 SlowDown
        self.slowdowns_served = 0
        self.fail_puts_after: int | None = None  # let this many DAG PUTs through, then fail the rest
        self.fail_puts_with = ("403 Forbidden", DENIED)  # or ("500 Internal Server Error", INTERNAL)
        self.puts_through = 0
        self.after_put: Callable[[int], None] | None = None  # called with the count of DAG PUTs answered
        self.puts_answered = 0
        self.etags: dict[tuple[str, str], tuple[bytes, bytes]] = {}  # (bucket, key) -> (moto's, ours)
        self.owner_headers: Counter[str | None] = Counter()  # x-amz-expected-bucket-owner values seen

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.owner_headers.clear()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        kind = request_kind(method, key, query)
        if self.delay:
            time.sleep(self.delay)
        owner = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
        with self.lock:
            self.counts[kind] += 1
            self.owner_headers[owner] += 1
            if owner and owner != MOTO_ACCOUNT:  # S3 refuses a request for a bucket of another owner
                return _error(start_response, "403 Forbidden", DENIED)
            if self.slowdowns > 0:
                self.slowdowns -= 1
                self.slowdowns_served += 1
                return _error(start_response, "503 Slow Down", SLOWDOWN)
            if kind == "PUT" and self.fail_puts_after is not None and not key.endswith(MANIFEST_SUFFIX):
                if self.puts_through >= self.fail_puts_after:
                    return _error(start_response, *self.fail_puts_with)
                self.puts_through += 1
            if_match = environ.get("HTTP_IF_MATCH")
            stored = self.etags.get((bucket, key))
            if if_match and stored and if_match.encode() == stored[1]:
                environ["HTTP_IF_MATCH"] = stored[0].decode()  # moto knows only its own ETag

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        body = b"".join(self.app(environ, capture))
        headers = list(captured["headers"])
        if kind in ("PUT", "GET", "HEAD") and captured["status"].startswith("200"):
            headers = self._rewrite_etag_header(bucket, key, headers, is_put=kind == "PUT" and "uploadId" not in query)
        elif kind == "LIST" and captured["status"].startswith("200"):
            body = _CONTENTS.sub(lambda m: self._rewrite_listed(bucket, m.group(0)), body)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        if kind == "PUT" and not key.endswith(MANIFEST_SUFFIX) and self.after_put:
            with self.lock:
                self.puts_answered += 1
                answered = self.puts_answered
            self.after_put(answered)
        return [body]

    def _rewrite_etag_header(
        self, bucket: str, key: str, headers: list[tuple[str, str]], *, is_put: bool
    ) -> list[tuple[str, str]]:
        result = []
        for name, value in headers:
            if name.lower() == "etag":
                real = value.encode()
                with self.lock:
                    if is_put and key:
                        fake = f'"{uuid.uuid4().hex}"'.encode()
                        self.etags[(bucket, key)] = (real, fake)
                    stored = self.etags.get((bucket, key))
                value = stored[1].decode() if stored and stored[0] == real else value
            result.append((name, value))
        return result

    def _rewrite_listed(self, bucket: str, block: bytes) -> bytes:
        key_match = _KEY.search(block)
        etag_match = _ETAG.search(block)
        if not key_match or not etag_match:
            return block
        key = key_match.group(1).decode().replace("&amp;", "&")
        real = etag_match.group(1).replace(b"&#34;", b'"').replace(b"&quot;", b'"')
        with self.lock:
            stored = self.etags.get((bucket, key))
        if not stored or stored[0] != real:
            return block
        return block.replace(etag_match.group(0), b"<ETag>" + stored[1].replace(b'"', b"&#34;") + b"</ETag>")


def _error(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Thousands of requests per benchmark: no access log."""


class S3Server:
    """A threaded HTTP server on 127.0.0.1 (free port) serving moto's S3 through S3Layer."""

    def __init__(self) -> None:
        self.layer = S3Layer(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, self.layer, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> S3Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join()


# The environment a sync process needs to talk to the server instead of AWS.
def client_environment(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
