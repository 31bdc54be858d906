"""Long first-time steps show progress on a terminal and stay to one line in a log (CI)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TICKING = """
import time
from dagtools.progress import ticking
with ticking("Preparing the database", every=0.2):
    time.sleep(0.9)
"""

INSTALL = """
import sys
from pathlib import Path
from dagtools.check.airflow_venv import _install
worked, report = _install(Path(sys.argv[1]), "six==1.16.0")
print("worked" if worked else "failed", report)
"""


def run(code: str, *args: str, terminal: bool) -> str:
    """The child's stdout and stderr together, with both on a pseudo-terminal or on a pipe."""
    command = [sys.executable, "-c", code, *args]
    if not terminal:
        return subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    controller, terminal_fd = pty.openpty()
    child = subprocess.Popen(command, cwd=ROOT, stdout=terminal_fd, stderr=terminal_fd)
    os.close(terminal_fd)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert child.wait() == 0
    return re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))  # uv colours a terminal


def test_a_long_step_ticks_on_a_terminal() -> None:
    shown = run(TICKING, terminal=True)
    assert "\rPreparing the database ... 0 s" in shown
    assert shown.rstrip().endswith("Preparing the database ... 1 s, done")


def test_a_long_step_is_one_line_in_a_log() -> None:
    assert run(TICKING, terminal=False) == "Preparing the database ...\n"


def test_an_install_shows_uv_progress_on_a_terminal_and_nothing_in_a_log(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    shown = run(INSTALL, python, terminal=True)
    assert "Installed 1 package" in shown and "worked (uv's report is above)" in shown
    subprocess.run([Path(sys.executable).with_name("uv"), "pip", "uninstall", "--python", python, "six"], check=True)
    assert run(INSTALL, python, terminal=False).strip() == "worked"
