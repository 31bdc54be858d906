"""Content-hash sync of a local DAG folder to one S3 prefix.

Deciding by content, not mtime, matters beyond speed: every re-uploaded file gets a new
LastModified, so MWAA copies it again to every scheduler and worker and Airflow re-parses it.

A listing has no object metadata and cannot tell whether an ETag is an MD5 (SSE-KMS and multipart
ETags are not), so a manifest inside the prefix records each file's SHA-256 and the ETag S3 gave
it. A file is unchanged when its hash matches the manifest and its listed ETag matches the
recorded one; an edit made outside this tool changes the ETag and is re-uploaded. One sync of a
fresh clone with one change costs one LIST page per 1,000 objects, one GET and two PUTs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from dagtools.local import MANIFEST_NAME, IgnoreRules, LocalFile

MANIFEST_VERSION = 1
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
MASS_DELETE_FLOOR = 5  # below this many remote DAGs, deleting most of them is not suspicious


class SyncError(Exception):
    """A sync that did not complete; the next run repairs what this one left half done."""


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
    manifest_present: bool
    ignored: list[str]
    list_pages: int


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
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self.manifest_key = self.prefix + MANIFEST_NAME
        self.concurrency = concurrency
        self.owner = {"ExpectedBucketOwner": expected_bucket_owner} if expected_bucket_owner else {}

    def read_remote(self, rules: IgnoreRules) -> RemoteState:
        etags: dict[str, str] = {}
        ignored: list[str] = []
        manifest_present = False
        pages = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, **self.owner):
            pages += 1
            for item in page.get("Contents", []):
                key = item["Key"]
                relative = key[len(self.prefix) :]
                if key == self.manifest_key:
                    manifest_present = True
                elif not relative or relative.endswith("/") or rules.ignores(relative):
                    ignored.append(relative or key)
                else:
                    etags[relative] = item["ETag"]
        manifest = self._read_manifest() if manifest_present else {}
        return RemoteState(etags, manifest, manifest_present, ignored, pages)

    def _read_manifest(self) -> dict[str, ManifestEntry]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.manifest_key, **self.owner)["Body"].read()
        try:
            data = json.loads(body)
            return {path: ManifestEntry(e["sha256"], e["etag"]) for path, e in data["files"].items()}
        except (ValueError, KeyError, TypeError):
            # A damaged manifest only costs re-uploads: every file then counts as changed.
            return {}

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
        """Upload first, delete second, manifest last: no DAG that is only moving is ever missing."""
        manifest = {p: e for p, e in remote.manifest.items() if p in local and p not in plan.uploads}
        manifest.update(self._upload(plan.uploads, local, progress))
        self._delete(plan.deleted)
        if plan.has_changes or set(manifest) != set(remote.manifest) or not remote.manifest_present:
            self._write_manifest(manifest)

    def _upload(
        self, paths: list[str], local: dict[str, LocalFile], progress: Callable[[int, int], None] | None
    ) -> dict[str, ManifestEntry]:
        uploaded: dict[str, ManifestEntry] = {}
        failures: list[str] = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._put_file, local[path]): path for path in paths}
            for done, future in enumerate(as_completed(futures), start=1):
                path = futures[future]
                try:
                    uploaded[path] = future.result()
                except Exception as error:  # every failure is reported below
                    failures.append(f"{path}: {error}")
                if progress:
                    progress(done, len(paths))
        if failures:
            # The manifest is not written, so the next run uploads these again.
            raise SyncError(f"{len(failures)} upload(s) failed; first: {failures[0]}")
        return uploaded

    def _put_file(self, file: LocalFile) -> ManifestEntry:
        body = file.path.read_bytes()
        key = self.prefix + file.relative
        response = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **self.owner)
        # Hash what was sent, in case the file changed after the scan.
        return ManifestEntry(hashlib.sha256(body).hexdigest(), response["ETag"])

    def _delete(self, paths: Iterable[str]) -> None:
        keys = [self.prefix + path for path in paths]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                **self.owner,
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise SyncError(f"{len(errors)} delete(s) failed; first: {first['Key']}: {first.get('Message')}")

    def _write_manifest(self, manifest: dict[str, ManifestEntry]) -> None:
        body = json.dumps(
            {
                "version": MANIFEST_VERSION,
                "files": {p: {"sha256": e.sha256, "etag": e.etag} for p, e in sorted(manifest.items())},
            },
            indent=1,
        ).encode()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.manifest_key,
            Body=body,
            ContentType="application/json",
            CacheControl="no-cache",
            **self.owner,
        )
