"""Progress for the long first-time steps (Airflow venv installs, `airflow db migrate`): shown on a
terminal, where a silent half minute looks like a hang; one line elsewhere, so CI logs stay short."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator


def on_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def ticking(label: str, *, every: float = 1.0) -> Iterator[None]:
    """`label ... 12 s`, rewritten in place while the block runs, then how long it took."""
    if not on_terminal():
        print(f"{label} ...", file=sys.stderr)
        yield
        return
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every):
            print(f"\r{label} ... {time.monotonic() - started:.0f} s", end="", file=sys.stderr, flush=True)

    ticker = threading.Thread(target=tick, daemon=True)
    print(f"{label} ...", end="", file=sys.stderr, flush=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        print(f"\r{label} ... {time.monotonic() - started:.0f} s, done", file=sys.stderr, flush=True)
