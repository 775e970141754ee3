#!/usr/bin/env python3
"""Independent check of biowave's raw f32 output with numpy/scipy.

ecg FILE NCH LEAD FS  -> prints mean HR and HR std (bpm) from scipy.signal.find_peaks
eeg FILE NCH CH FS    -> prints the frequency of the Welch PSD peak in 4-30 Hz
"""
import sys

import numpy as np
from scipy import signal


def load(path, nch, ch):
    return np.fromfile(path, dtype="<f4").reshape(-1, int(nch))[:, int(ch)].astype(float)


def main():
    kind, path, nch, ch, fs = sys.argv[1:6]
    fs = float(fs)
    x = load(path, nch, ch)
    if kind == "ecg":
        peaks, _ = signal.find_peaks(x, height=0.5 * np.percentile(x, 99.9), distance=int(0.25 * fs))
        hr = 60.0 / (np.diff(peaks) / fs)
        print(f"{hr.mean():.4f} {hr.std(ddof=1):.4f}")
    else:
        f, p = signal.welch(x, fs=fs, nperseg=int(2 * fs))
        band = (f >= 4) & (f <= 30)
        print(f"{f[band][np.argmax(p[band])]:.4f}")


if __name__ == "__main__":
    main()
