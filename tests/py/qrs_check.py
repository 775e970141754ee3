#!/usr/bin/env python3
"""R peaks of one EDF channel by NeuroKit2 (an independent detector), as JSON.

    python3 tests/py/qrs_check.py FILE.edf CHANNEL_INDEX

Prints {"fs": ..., "peaks": [sample indices]} using neurokit2.ecg_peaks with its default
method (Makowski et al. 2021) on the signal as pyedflib reads it.
"""
import json
import sys

import neurokit2 as nk
import numpy as np
import pyedflib


def main():
    path, ch = sys.argv[1], int(sys.argv[2])
    with pyedflib.EdfReader(path) as f:
        x = f.readSignal(ch)
        fs = f.getSampleFrequency(ch)
    cleaned = nk.ecg_clean(x, sampling_rate=fs)
    _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
    print(json.dumps({"fs": fs, "peaks": peaks.tolist()}))


if __name__ == "__main__":
    main()
