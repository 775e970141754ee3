#!/usr/bin/env python3
"""Time scipy.signal.stft/istft and biowave's Stft on the same work in one run: 10 min of
12-lead ECG at 500 Hz (the real record in signals/, tiled), float32, n_fft 256, hop 64,
Hann. Prints each time and the speed ratio (scipy time / biowave time).

Usage: python3 scripts/bench_stft.py   (runs `cargo bench --bench stft` for biowave)
"""
import numpy as np
import pyedflib
import scipy.signal as ss

from benchlib import ROOT, best, criterion_times

N_FFT, HOP, SECONDS, FS = 256, 64, 600, 500


def leads():
    with pyedflib.EdfReader(str(ROOT / "signals/ecg12_sample1.edf")) as f:
        x = np.stack([f.readSignal(i) for i in range(f.signals_in_file)]).astype(np.float32)
    n = SECONDS * FS
    return np.tile(x, (1, n // x.shape[1] + 1))[:, :n].copy()


def main():
    x = leads()
    kw = dict(window="hann", nperseg=N_FFT, noverlap=N_FFT - HOP)
    _, _, z = ss.stft(x, **kw)
    t_fwd = best(lambda: ss.stft(x, **kw))
    t_inv = best(lambda: ss.istft(z, **kw))
    bw = criterion_times("stft", ("forward", "inverse"))
    shape = f"{x.shape[0]} leads x {x.shape[1]} samples"
    print(f"scipy.signal.stft  ({shape}): {t_fwd * 1e3:8.1f} ms")
    print(f"biowave Stft fwd   ({shape}): {bw['forward'] * 1e3:8.1f} ms  (criterion median)")
    print(f"scipy.signal.istft ({shape}): {t_inv * 1e3:8.1f} ms")
    print(f"biowave Stft inv   ({shape}): {bw['inverse'] * 1e3:8.1f} ms  (criterion median)")
    print(f"ratio forward (scipy / biowave): {t_fwd / bw['forward']:.1f}x")
    print(f"ratio inverse (scipy / biowave): {t_inv / bw['inverse']:.1f}x")


if __name__ == "__main__":
    main()
