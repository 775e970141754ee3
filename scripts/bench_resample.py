#!/usr/bin/env python3
"""Time scipy.signal.resample_poly and biowave's resampler on the same work in one run:
10 min of MIT-BIH 208 lead MLII (signals/mitdb208.edf twice), 360 Hz to 500 Hz, float32.
Prints each time and the speed ratio (scipy time / biowave time). biowave's streamed
case pushes 7 samples (20 ms) at a time, as `stream --fs 500` does; scipy gets the whole
signal at once, its best case.

Usage: python3 scripts/bench_resample.py   (runs `cargo bench --bench resample` for biowave)
"""
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pyedflib
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent


def mlii():
    with pyedflib.EdfReader(str(ROOT / "signals/mitdb208.edf")) as f:
        x = f.readSignal(0).astype(np.float32)
    return np.tile(x, 2)[: 600 * 360].copy()


def best(fn, repeats=5):
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def criterion_times():
    out = subprocess.run(
        ["cargo", "bench", "--bench", "resample", "--", "--noplot"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    units = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for name in ("streamed_7_samples_a_push", "batch"):
        m = re.search(name + r"\s*\n?\s*time:\s*\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", out)
        if not m:
            raise SystemExit(f"could not find the {name} time in criterion's output:\n{out}")
        times[name] = float(m.group(1)) * units[m.group(2)]
    return times


def main():
    x = mlii()
    t_scipy = best(lambda: resample_poly(x, 25, 18))
    bw = criterion_times()
    print(f"scipy.signal.resample_poly ({len(x)} samples, 360 -> 500 Hz): {t_scipy * 1e3:8.2f} ms")
    for name, t in bw.items():
        print(f"biowave {name:28s}: {t * 1e3:8.2f} ms  -> {t_scipy / t:5.2f}x scipy's speed"
              f", {600 / t:,.0f}x real time")


if __name__ == "__main__":
    main()
