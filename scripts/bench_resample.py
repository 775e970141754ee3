#!/usr/bin/env python3
"""Time scipy.signal.resample_poly and biowave's resampler on the same work in one run:
10 min of MIT-BIH 208 lead MLII (signals/mitdb208.edf twice), 360 Hz to 500 Hz, float32.
Prints each time and the speed ratio (scipy time / biowave time). biowave's streamed
case pushes 7 samples (20 ms) at a time, as `stream --fs 500` does; scipy gets the whole
signal at once, its best case.

Usage: python3 scripts/bench_resample.py   (runs `cargo bench --bench resample` for biowave)
"""
import numpy as np
import pyedflib
from scipy.signal import resample_poly

from benchlib import ROOT, best, criterion_times



def mlii():
    with pyedflib.EdfReader(str(ROOT / "signals/mitdb208.edf")) as f:
        x = f.readSignal(0).astype(np.float32)
    return np.tile(x, 2)[: 600 * 360].copy()


def main():
    x = mlii()
    t_scipy = best(lambda: resample_poly(x, 25, 18))
    bw = criterion_times("resample", ("streamed_7_samples_a_push", "batch"))
    print(f"scipy.signal.resample_poly ({len(x)} samples, 360 -> 500 Hz): {t_scipy * 1e3:8.2f} ms")
    for name, t in bw.items():
        print(f"biowave {name:28s}: {t * 1e3:8.2f} ms  -> {t_scipy / t:5.2f}x scipy's speed"
              f", {600 / t:,.0f}x real time")


if __name__ == "__main__":
    main()
