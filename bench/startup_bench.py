"""Benchmark: what a DAG sync pays before its first request, reading config the tools' way (the
standard-library reader) beside the checked load the synth uses (pydantic and every rule).

Each variant is a whole Python process from this repository's venv: the sync's modules imported and
the example config read, median of several runs; a bare interpreter gives the floor.

Usage: python -m bench.startup_bench [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from tests.conftest import ROOT

SYNC = "import dagtools.sync.command, dagtools.live.wait; "
VARIANTS = {
    "python alone (floor)": "pass",
    "sync, config by config.reader (what runs)": SYNC + "from config import read_config; read_config()",
    "sync, config by the checked load (pydantic)": SYNC + "from config import load_config; load_config()",
}


def median_ms(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"Sync start-up (median of {args.repeat} processes)")
    for name, code in VARIANTS.items():
        print(f"  {name:<46} {median_ms(code, args.repeat):6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
