"""Content-hash sync of a local DAG folder to one S3 prefix.

Deciding by content, not mtime, matters beyond speed: every re-uploaded file gets a new
LastModified, so MWAA copies it again to every scheduler and worker and Airflow re-parses it.

A listing has no object metadata and cannot tell whether an ETag is an MD5 (SSE-KMS and multipart
ETags are not), so a manifest inside the prefix records each file's SHA-256 and the ETag S3 gave
it. A file is unchanged when its hash matches the manifest and its listed ETag matches the
recorded one; an edit made outside this tool changes the ETag and is re-uploaded. One sync of a
fresh clone with one change costs one LIST page per 1,000 objects, one GET and two PUTs.

The manifest is read while the first page is listed: its sorted keys split the prefix into ranges of
900 keys (a page holds 1,000), listed side by side (StartAfter), so a large folder costs two round
trips of listing, not one per 1,000 objects. Without a manifest the prefix is listed page after page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from aws_clients import error_code
from dagtools.sync.source import MANIFEST_NAME, IgnoreRules, LocalFile

MANIFEST_VERSION = 1
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
# Known keys per listed range: a page holds 1,000, so up to 100 objects the manifest does not know
# (the manifest itself, edits made elsewhere) still fit in one page per range.
RANGE_KEYS = 900
MASS_DELETE_FLOOR = 5  # below this many remote DAGs, deleting most of them is not suspicious


class SyncError(Exception):
    """A sync that did not complete; the next run repairs what this one left half done.

    `permanent`: running it again cannot help until someone fixes the cause (AccessDenied,
    NoSuchBucket), unlike throttling, timeouts or S3's own errors, which a later run may not meet.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class ConcurrentSyncError(SyncError):
    """Another sync wrote the manifest after this one read it: the bucket may hold a mix of both."""


class SyncInterrupted(Exception):
    """Stopped by SIGINT or SIGTERM; the manifest records what was uploaded before the stop."""

    def __init__(self, uploaded: int, total: int) -> None:
        super().__init__(f"interrupted after uploading {uploaded} of {total} file(s)")
        self.uploaded = uploaded
        self.total = total


class SafetyError(Exception):
    """A sync refused because it would lose more than it should."""


@dataclass(frozen=True)
class ManifestEntry:
    sha256: str
    etag: str


@dataclass
class RemoteState:
    """What is under the prefix: listed ETags by relative path, and the manifest."""

    etags: dict[str, str]
    manifest: dict[str, ManifestEntry]
    manifest_etag: str | None  # the manifest object's ETag, for a conditional write; None if absent
    ignored: list[str]
    list_pages: int
    commit: str | None = None  # the git commit the manifest's last sync came from

    @property
    def manifest_present(self) -> bool:
        return self.manifest_etag is not None


@dataclass
class Plan:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_ignored: list[str] = field(default_factory=list)

    @property
    def uploads(self) -> list[str]:
        return self.added + self.changed

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.deleted)


def parse_manifest(body: bytes) -> tuple[dict[str, ManifestEntry], str | None]:
    """The manifest's entries and the commit it records; anything unreadable (not JSON, wrong shape)
    counts as no manifest, which only costs re-uploads: every file then counts as changed."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}, None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}, None
    entries = {}
    for path, entry in files.items():
        if not (
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("etag"), str)
        ):
            return {}, None
        entries[path] = ManifestEntry(entry["sha256"], entry["etag"])
    commit = data.get("commit")
    return entries, commit if isinstance(commit, str) else None


def normalize_prefix(prefix: str) -> str:
    """`dags` and `dags/` mean the same; an empty prefix (the whole bucket) is refused."""
    cleaned = prefix.strip("/")
    if not cleaned:
        raise SafetyError("the prefix is empty; refusing to sync the whole bucket (requirements, plugins live there)")
    return cleaned + "/"


class DagSync:
    """Plans and applies a sync of local files to `s3://bucket/prefix` with one boto3 S3 client."""

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        prefix: str,
        expected_bucket_owner: str | None = None,
        concurrency: int = 16,
        commit: str | None = None,
        range_keys: int = RANGE_KEYS,
        delete_batch: int = DELETE_BATCH,
    ) -> None:
        """`commit`: the git commit the local files come from, recorded in the manifest. `range_keys` and
        `delete_batch` are S3's page and batch sizes, smaller only to test their logic on a few files."""
        self.client = client
        self.range_keys = range_keys
        self.delete_batch = delete_batch
        self.commit = commit
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.manifest_key = self.prefix + MANIFEST_NAME
        self.concurrency = concurrency
        self.owner = {"ExpectedBucketOwner": expected_bucket_owner} if expected_bucket_owner else {}

    def read_remote(self, rules: IgnoreRules) -> RemoteState:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            # The first page does not depend on the manifest: both are asked for at once.
            first_page = pool.submit(self.client.list_objects_v2, **self._list_request(None))
            manifest, manifest_etag, commit, denied = self._read_manifest()
            keys = sorted(self.prefix + path for path in manifest)
            # Ranges (after, through]: each about one page of the keys the manifest knows; the last is open.
            bounds: list[str | None] = [None, *keys[self.range_keys - 1 : -1 : self.range_keys]]
            ranges = list(zip(bounds, [*bounds[1:], None], strict=True))
            later = [pool.submit(self._list_range, after, through) for after, through in ranges[1:]]
            listed = [self._list_range(None, ranges[0][1], first_page=first_page.result())]
            listed += [future.result() for future in later]
        etags: dict[str, str] = {}
        ignored: list[str] = []
        manifest_listed = False
        for items, _ in listed:
            for key, etag in items:
                relative = key[len(self.prefix) :]
                if key == self.manifest_key:
                    manifest_listed = True
                elif not relative or relative.endswith("/") or rules.ignores(relative):
                    ignored.append(relative or key)
                else:
                    etags[relative] = etag
        if denied is not None and manifest_listed:
            raise denied  # the manifest exists and may not be read: a real AccessDenied
        return RemoteState(etags, manifest, manifest_etag, ignored, sum(p for _, p in listed), commit)

    def _list_request(self, after: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix, **self.owner}
        if after is not None:
            request["StartAfter"] = after
        return request

    def _list_range(
        self, after: str | None, through: str | None, *, first_page: dict[str, Any] | None = None
    ) -> tuple[list[tuple[str, str]], int]:
        """(key, ETag) of every object under the prefix after `after`, up to and including `through`;
        `first_page`: the range's first page, when it was already asked for."""
        request = self._list_request(after)
        items: list[tuple[str, str]] = []
        pages = 0
        while True:
            page = first_page if first_page is not None and pages == 0 else self.client.list_objects_v2(**request)
            pages += 1
            for item in page.get("Contents", []):
                if through is not None and item["Key"] > through:
                    return items, pages
                items.append((item["Key"], item["ETag"]))
            if not page.get("IsTruncated"):
                return items, pages
            request["ContinuationToken"] = page["NextContinuationToken"]

    def _read_manifest(self) -> tuple[dict[str, ManifestEntry], str | None, str | None, Exception | None]:
        """(entries, ETag, commit, the AccessDenied that hid it, if any).

        S3 answers AccessDenied, not NoSuchKey, for a missing key to a role whose s3:ListBucket is
        limited to the prefix (the DAG sync role's): the listing decides whether that means none."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.manifest_key, **self.owner)
        except Exception as error:
            if error_code(error) == "NoSuchKey":
                return {}, None, None, None
            if error_code(error) == "AccessDenied":
                return {}, None, None, error
            raise
        entries, commit = parse_manifest(response["Body"].read())
        return entries, response["ETag"], commit, None

    def plan(self, local: dict[str, LocalFile], remote: RemoteState, *, allow_mass_delete: bool = False) -> Plan:
        plan = Plan(kept_ignored=sorted(remote.ignored))
        for path, file in local.items():
            etag = remote.etags.get(path)
            recorded = remote.manifest.get(path)
            if etag is None:
                plan.added.append(path)
            elif recorded and recorded.sha256 == file.sha256 and recorded.etag == etag:
                plan.unchanged.append(path)
            else:
                plan.changed.append(path)
        plan.deleted = sorted(set(remote.etags) - set(local))
        remote_count = len(remote.etags)
        if not allow_mass_delete and remote_count > MASS_DELETE_FLOOR and len(plan.deleted) * 2 > remote_count:
            raise SafetyError(
                f"this sync would delete {len(plan.deleted)} of the {remote_count} DAG files in "
                f"s3://{self.bucket}/{self.prefix}; refusing. If that is intended, pass --allow-mass-delete."
            )
        return plan

    def apply(
        self,
        plan: Plan,
        local: dict[str, LocalFile],
        remote: RemoteState,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Upload first, delete second, manifest last: no DAG that is only moving is ever missing.

        When uploads fail or the run is interrupted, the manifest is still written for what was
        uploaded (files not uploaded keep their old entries, which no longer match), so the next run
        uploads only the rest.
        """
        manifest = {p: e for p, e in remote.manifest.items() if p in local}
        try:
            self._upload(plan.uploads, local, progress, record=manifest)
            self._delete(plan.deleted)
        except (SyncError, SyncInterrupted):
            # Half done: the files are recorded, the commit stays the last one that fully landed.
            self._write_manifest(manifest, remote.manifest_etag, commit=remote.commit, best_effort=True)
            raise
        new_commit = self.commit is not None and self.commit != remote.commit
        if plan.has_changes or set(manifest) != set(remote.manifest) or not remote.manifest_present or new_commit:
            self._write_manifest(manifest, remote.manifest_etag, commit=self.commit or remote.commit)

    def _upload(
        self,
        paths: list[str],
        local: dict[str, LocalFile],
        progress: Callable[[int, int], None] | None,
        *,
        record: dict[str, ManifestEntry],
    ) -> None:
        """Upload `paths`, recording each file in `record` as soon as S3 has it."""
        failures: list[tuple[str, Exception]] = []
        settled: set[Future[ManifestEntry]] = set()

        def settle(future: Future[ManifestEntry]) -> None:
            settled.add(future)
            try:
                record[futures[future]] = future.result()
            except Exception as error:  # every failure is reported below
                failures.append((futures[future], error))

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        futures = {pool.submit(self._put_file, local[path]): path for path in paths}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                settle(future)
                if progress:
                    progress(done, len(paths))
        except KeyboardInterrupt:
            # Cancel what has not started, let the PUTs in flight finish, and keep what they uploaded.
            pool.shutdown(wait=True, cancel_futures=True)
            for future in futures:
                if future not in settled and future.done() and not future.cancelled():
                    settle(future)
            uploaded = len(settled) - len(failures)
            raise SyncInterrupted(uploaded, len(paths)) from None
        finally:
            pool.shutdown(wait=True)
        if failures:
            first_path, first_error = failures[0]
            raise SyncError(
                f"{len(failures)} of {len(paths)} upload(s) failed; first: {first_path}: {first_error}",
                permanent=all(is_permanent(e) for _, e in failures),
            )

    def _put_file(self, file: LocalFile) -> ManifestEntry:
        body = file.path.read_bytes()
        key = self.prefix + file.relative
        response = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **self.owner)
        # Hash what was sent, in case the file changed after the scan.
        return ManifestEntry(hashlib.sha256(body).hexdigest(), response["ETag"])

    def _delete(self, paths: Iterable[str]) -> None:
        keys = [self.prefix + path for path in paths]
        for start in range(0, len(keys), self.delete_batch):
            batch = keys[start : start + self.delete_batch]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                **self.owner,
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise SyncError(
                    f"{len(errors)} delete(s) failed; first: {first['Key']}: {first.get('Message')}",
                    permanent=all(e.get("Code") not in TRANSIENT_CODES for e in errors),
                )

    def _write_manifest(
        self,
        manifest: dict[str, ManifestEntry],
        read_etag: str | None,
        *,
        commit: str | None,
        best_effort: bool = False,
    ) -> None:
        """Write the manifest only if nobody else wrote it since we read it (S3 conditional write)."""
        body = json.dumps(
            {
                "version": MANIFEST_VERSION,
                **({"commit": commit} if commit else {}),
                "files": {p: {"sha256": e.sha256, "etag": e.etag} for p, e in sorted(manifest.items())},
            },
            indent=1,
        ).encode()
        condition = {"IfMatch": read_etag} if read_etag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.manifest_key,
                Body=body,
                ContentType="application/json",
                CacheControl="no-cache",
                **condition,
                **self.owner,
            )
        except Exception as error:
            if error_code(error) in CONFLICT_CODES:
                raise ConcurrentSyncError(
                    f"another sync wrote s3://{self.bucket}/{self.manifest_key} while this one ran, so the bucket "
                    "may hold files of both; run the sync again once the other has finished, it repairs the bucket",
                    permanent=False,
                ) from None
            if not best_effort:
                raise


# S3 error codes that a later run may not meet again; everything else (AccessDenied, NoSuchBucket,
# KeyTooLongError, InvalidArgument, ...) fails the same way until someone fixes the cause.
TRANSIENT_CODES = {
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
}
# What S3 answers a conditional write whose condition no longer holds (412), or that raced another (409).
CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"}


def is_permanent(error: Exception) -> bool:
    """True when running again cannot help until someone fixes the cause: S3 client errors other than
    throttling and timeouts, and missing credentials or settings. Network errors, timeouts and S3's
    own failures (5xx) are transient."""
    from botocore.exceptions import HTTPClientError

    if isinstance(error, HTTPClientError):  # connection reset, read or connect timeout
        return False
    code = error_code(error)
    if code is None:
        return True
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)  # type: ignore[attr-defined]
    return code not in TRANSIENT_CODES and not (isinstance(status, int) and status >= 500)
