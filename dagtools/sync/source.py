"""The local side of a DAG sync: which files under `dags/` are published, and their content hashes."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SYNCIGNORE = ".syncignore"
MANIFEST_NAME = ".dagsync-manifest.json"
MAX_KEY_BYTES = 1024
# Never published: bytecode, the ignore file itself, and a stray copy of our manifest.
ALWAYS_SKIPPED = ("__pycache__", "*.pyc", SYNCIGNORE, MANIFEST_NAME)


class SourceError(Exception):
    """The source folder cannot be synced as it is (missing, empty): refusing protects the bucket."""


@dataclass(frozen=True)
class LocalFile:
    relative: str  # path under the source folder, `/`-separated: the key under the prefix
    path: Path
    sha256: str


class IgnoreRules:
    """Glob patterns, one per line; `#` starts a comment.

    A pattern with no `/` matches a file or folder name anywhere (`*.md`, `tests`); one with a `/`
    matches the path from the top of `dags/` (`scratch/*.py`). A matched folder takes all it holds.
    """

    def __init__(self, patterns: list[str]) -> None:
        stripped = [p.rstrip("/") for p in patterns]
        # One regex per kind, compiled once: a sync of 5,000 files asks about every file and key.
        self._name = _any_of(p for p in stripped if "/" not in p)
        self._path = _any_of(p for p in stripped if "/" in p)

    @classmethod
    def for_source(cls, source: Path) -> IgnoreRules:
        ignore_file = source / SYNCIGNORE
        lines = ignore_file.read_text().splitlines() if ignore_file.is_file() else []
        user = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        return cls([*ALWAYS_SKIPPED, *user])

    def ignores(self, relative: str) -> bool:
        parts = [part for part in relative.split("/") if part]
        if any(self._name.match(part) for part in parts):
            return True
        return any(self._path.match("/".join(parts[: i + 1])) for i in range(len(parts)))

    def ignores_entry(self, relative: str, name: str) -> bool:
        """`ignores` for a walk that never enters an ignored folder: only the entry itself is new."""
        return bool(self._name.match(name) or self._path.match(relative))


def _any_of(patterns: Iterable[str]) -> re.Pattern[str]:
    """One regex matching a whole name or path against any of the glob patterns (case-sensitive)."""
    translated = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(translated) if translated else "(?!)")


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _walk(source: Path, rules: IgnoreRules) -> tuple[list[tuple[str, Path]], list[str]]:
    """(relative path, file to read) for every file under `source` that is not ignored, and the links
    that lead out of it.

    Links are followed only while they stay inside the source folder (a link to a credentials file
    must never be published); a linked folder inside it is walked once, so a loop ends. Ignored
    folders are not walked at all. Only links are resolved: anything else in a real folder is already
    where its path says.
    """
    root = source.resolve()
    found: list[tuple[str, Path]] = []
    refused: list[str] = []
    walked: set[Path] = set()

    def visit(real: Path, relative: str) -> None:
        if real in walked:
            return
        walked.add(real)
        with os.scandir(real) as scanned:
            entries = sorted(scanned, key=lambda e: e.name)
        for entry in entries:
            path = f"{relative}{entry.name}"
            if rules.ignores_entry(path, entry.name):
                continue
            target = real / entry.name
            if entry.is_symlink():
                target = target.resolve()
                if not target.is_relative_to(root):
                    refused.append(f"{path} -> {os.readlink(entry.path)}")
                    continue
            if entry.is_dir():  # through a link, to what it leads to
                visit(target, path + "/")
            elif entry.is_file():
                found.append((path, target))

    visit(root, "")
    return found, refused


def scan_source(source: Path) -> tuple[dict[str, LocalFile], IgnoreRules]:
    """Every file to publish, keyed by its path relative to `source` (with `/` separators)."""
    if not source.is_dir():
        raise SourceError(f"source folder {source} does not exist or is not a folder; refusing to sync")
    rules = IgnoreRules.for_source(source)
    found, refused = _walk(source, rules)
    if refused:
        raise SourceError(
            f"{len(refused)} link(s) in {source} lead outside it; refusing to publish what they point to "
            "(copy the file into the folder instead): " + ", ".join(refused)
        )
    files = {relative: LocalFile(relative, path, sha256_of(path)) for relative, path in found}
    if not files:
        raise SourceError(
            f"source folder {source} holds no files to publish; refusing to sync, "
            "since that would delete every DAG in the bucket"
        )
    return files, rules


def check_key_lengths(files: dict[str, LocalFile], prefix: str) -> None:
    """S3 keys are at most 1,024 bytes of UTF-8: refuse before any request, since no retry would help."""
    too_long = [relative for relative in files if len((prefix + relative).encode()) > MAX_KEY_BYTES]
    if too_long:
        raise SourceError(
            f"{len(too_long)} path(s) make S3 keys longer than {MAX_KEY_BYTES} bytes, which S3 refuses; "
            "shorten them: " + ", ".join(too_long[:5])
        )
