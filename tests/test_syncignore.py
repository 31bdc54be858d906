"""`.syncignore` means what `.gitignore` means: git itself is the oracle."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagtools.sync.source import IgnoreRules, scan_source

PATTERNS = """\
# a comment, then the cases people bring from .gitignore
*.md
!README.md
scratch/*.py
**/fixtures/
docs/**/draft.txt
/top_only.txt
build/
lib/generated/
!lib/generated/keep.py
*.tmp
!important.tmp
"""

FILES = [
    "a.py",
    "README.md",
    "notes.md",
    "sub/notes.md",
    "scratch/a.py",
    "scratch/deep/a.py",
    "scratch/b.txt",
    "lib/fixtures/rows.csv",
    "fixtures/x.csv",
    "docs/draft.txt",
    "docs/a/b/draft.txt",
    "docs/a/b/final.txt",
    "top_only.txt",
    "sub/top_only.txt",
    "build",
    "lib/build/x.py",
    "lib/generated/keep.py",
    "lib/generated/other.py",
    "x.tmp",
    "important.tmp",
    "sub/important.tmp",
]


def make_tree(root: Path) -> None:
    for relative in FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(f"# {relative}\n")


def published_by_git(root: Path) -> set[str]:
    """What git leaves untracked-and-not-ignored with the same patterns in `.gitignore`."""
    (root / ".gitignore").write_text(PATTERNS)
    git = ["git", "-c", "core.excludesFile=/dev/null", "-C", str(root)]
    subprocess.run([*git, "init", "--quiet"], check=True)
    listed = subprocess.run(
        [*git, "ls-files", "--others", "--exclude-standard", "-z"], check=True, capture_output=True, text=True
    ).stdout
    return {path for path in listed.split("\0") if path} - {".gitignore", ".syncignore"}


def test_syncignore_publishes_exactly_what_git_would_track(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / ".syncignore").write_text(PATTERNS)
    published = set(scan_source(tmp_path)[0]) - {".gitignore"}
    expected = published_by_git(tmp_path)
    assert published == expected
    # The cases the old fnmatch rules got wrong, pinned by name.
    assert "scratch/deep/a.py" in published and "scratch/a.py" not in published
    assert "README.md" in published and "sub/notes.md" not in published
    assert "docs/a/b/draft.txt" not in published and "docs/a/b/final.txt" in published
    assert "sub/top_only.txt" in published and "top_only.txt" not in published
    assert "build" in published and "lib/build/x.py" not in published
    # git cannot take a file back out of an ignored folder, and neither can the sync.
    assert "lib/generated/keep.py" not in published


def test_keys_in_the_bucket_are_judged_like_the_files_on_disk(tmp_path: Path) -> None:
    """The sync leaves a bucket's ignored keys alone, so `ignores` on a key must agree with the walk."""
    make_tree(tmp_path)
    (tmp_path / ".syncignore").write_text(PATTERNS)
    published = set(scan_source(tmp_path)[0])
    rules = IgnoreRules(PATTERNS.splitlines())
    assert {path for path in FILES if not rules.ignores(path)} == published


def test_bytecode_and_the_manifest_cannot_be_taken_back(tmp_path: Path) -> None:
    rules = IgnoreRules(["!*.pyc", "!__pycache__/", "!.dagsync-manifest.json"])
    assert rules.ignores("__pycache__/a.cpython-311.pyc")
    assert rules.ignores("lib/a.pyc")
    assert rules.ignores(".dagsync-manifest.json")
    assert not rules.ignores("lib/a.py")
