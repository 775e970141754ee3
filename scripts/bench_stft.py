#!/usr/bin/env python3
"""Time scipy.signal.stft/istft and biowave's Stft on the same work in one run: 10 min of
12-lead ECG at 500 Hz (the real record in signals/, tiled), float32, n_fft 256, hop 64,
Hann. Prints each time and the speed ratio (scipy time / biowave time).

Usage: python3 scripts/bench_stft.py   (runs `cargo bench --bench stft` for biowave)
"""
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pyedflib
import scipy.signal as ss

ROOT = Path(__file__).resolve().parent.parent
N_FFT, HOP, SECONDS, FS = 256, 64, 600, 500


def leads():
    with pyedflib.EdfReader(str(ROOT / "signals/ecg12_sample1.edf")) as f:
        x = np.stack([f.readSignal(i) for i in range(f.signals_in_file)]).astype(np.float32)
    n = SECONDS * FS
    return np.tile(x, (1, n // x.shape[1] + 1))[:, :n].copy()


def best(fn, repeats=5):
    t = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def criterion_times():
    out = subprocess.run(
        ["cargo", "bench", "--bench", "stft", "--", "--noplot"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    units = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for name in ("forward", "inverse"):
        m = re.search(name + r"\s*\n?\s*time:\s*\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", out)
        if not m:
            raise SystemExit(f"could not find the {name} time in criterion's output:\n{out}")
        times[name] = float(m.group(1)) * units[m.group(2)]
    return times


def main():
    x = leads()
    kw = dict(window="hann", nperseg=N_FFT, noverlap=N_FFT - HOP)
    _, _, z = ss.stft(x, **kw)
    t_fwd = best(lambda: ss.stft(x, **kw))
    t_inv = best(lambda: ss.istft(z, **kw))
    bw = criterion_times()
    shape = f"{x.shape[0]} leads x {x.shape[1]} samples"
    print(f"scipy.signal.stft  ({shape}): {t_fwd * 1e3:8.1f} ms")
    print(f"biowave Stft fwd   ({shape}): {bw['forward'] * 1e3:8.1f} ms  (criterion median)")
    print(f"scipy.signal.istft ({shape}): {t_inv * 1e3:8.1f} ms")
    print(f"biowave Stft inv   ({shape}): {bw['inverse'] * 1e3:8.1f} ms  (criterion median)")
    print(f"ratio forward (scipy / biowave): {t_fwd / bw['forward']:.1f}x")
    print(f"ratio inverse (scipy / biowave): {t_inv / bw['inverse']:.1f}x")


if __name__ == "__main__":
    main()
