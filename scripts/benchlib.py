"""Timing helpers shared by the comparison scripts (bench_*.py): the best wall time of a
Python call, and the median times criterion reports for a `cargo bench` run."""
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def best(fn, repeats=5):
    """The shortest of `repeats` wall times of `fn()`, seconds."""
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def criterion_times(bench, names):
    """Runs `cargo bench --bench BENCH` and returns {name: median seconds} for each
    benchmark function in `names`."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", bench, "--", "--noplot"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    times = {}
    for name in names:
        m = re.search(name + r"\s*\n?\s*time:\s*\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", out)
        if not m:
            raise SystemExit(f"could not find the {name} time in criterion's output:\n{out}")
        times[name] = float(m.group(1)) * UNITS[m.group(2)]
    return times
