"""The local side of a DAG sync: which files under `dags/` are published, and their content hashes."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

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
    """What `.syncignore` names, with `.gitignore`'s rules (the pathspec library, as Airflow's `.airflowignore`).

    `*.md` matches a name at any depth, `scratch/*.py` only files directly in `scratch/`, `**/` any
    number of folders, a trailing `/` only folders, a leading `!` takes a file back in (not one whose
    folder is ignored, as in git). ALWAYS_SKIPPED cannot be taken back.
    """

    def __init__(self, user_patterns: list[str]) -> None:
        self._always = re.compile("|".join(fnmatch.translate(name) for name in ALWAYS_SKIPPED))
        has_patterns = any(line.strip() and not line.startswith("#") for line in user_patterns)
        self._user = _gitignore_spec(user_patterns) if has_patterns else None

    @classmethod
    def for_source(cls, source: Path) -> IgnoreRules:
        ignore_file = source / SYNCIGNORE
        return cls(ignore_file.read_text().splitlines() if ignore_file.is_file() else [])

    def ignores(self, relative: str) -> bool:
        """A file's path under `dags/`: ignored when it or any folder above it is."""
        parts = [part for part in relative.split("/") if part]
        folders = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        if any(self.ignores_entry(folder, is_folder=True) for folder in folders):
            return True
        return self.ignores_entry("/".join(parts), is_folder=False)

    def ignores_entry(self, relative: str, *, is_folder: bool) -> bool:
        """`ignores` for a walk that never enters an ignored folder: only the entry itself is new."""
        if self._always.match(relative.rpartition("/")[2]):
            return True
        return self._user is not None and self._user.match_file(relative + "/" if is_folder else relative)


def _gitignore_spec(patterns: list[str]) -> GitIgnoreSpec:
    """Imported only when `.syncignore` has patterns: pathspec costs about 20 ms of the sync's start-up."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


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
            if rules.ignores_entry(path, is_folder=entry.is_dir()):
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
