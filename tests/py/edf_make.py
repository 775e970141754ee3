#!/usr/bin/env python3
"""Writes EDF files with pyedflib (an independent writer) for biowave's reader tests.

    edf_make.py mixed OUT.edf    three sample rates in one EDF+ (360, 90, 128 Hz) from the
                                 real MIT-BIH and PhyAAt EEG signals, with annotations
                                 that have durations
    edf_make.py big OUT.edf [--channels 64] [--minutes 60] [--rate 256]
                                 a long 16-bit EDF+ for the read benchmark, built by tiling
                                 the real 14-channel EEG
"""
import argparse
import os

import numpy as np
import pyedflib

HERE = os.path.dirname(os.path.abspath(__file__))
SIGNALS = os.path.join(HERE, "..", "..", "signals")


def read_all(name):
    with pyedflib.EdfReader(os.path.join(SIGNALS, name)) as f:
        return [f.readSignal(i) for i in range(f.signals_in_file)], f.getSignalHeaders()


def header(label, unit, rate, x):
    lo, hi = float(np.floor(x.min())) - 1, float(np.ceil(x.max())) + 1
    return {
        "label": label,
        "dimension": unit,
        "sample_frequency": rate,
        "physical_min": lo,
        "physical_max": hi,
        "digital_min": -32768,
        "digital_max": 32767,
        "transducer": "",
        "prefilter": "",
    }


def mixed(out):
    (ecg,), _ = read_all("mitdb208.edf")
    eeg, _ = read_all("phyaat_eeg14.edf")
    secs = 16
    sigs = [ecg[: 360 * secs], ecg[: 360 * secs : 4], eeg[0][: 128 * secs]]
    heads = [
        header("ECG MLII", "mV", 360, sigs[0]),
        header("ECG MLII/4", "mV", 90, sigs[1]),
        header("EEG AF3", "uV", 128, sigs[2]),
    ]
    with pyedflib.EdfWriter(out, 3, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders(heads)
        for k in range(secs):  # one 1-s data record at a time, each signal at its rate
            for s, h in zip(sigs, heads):
                rate = h["sample_frequency"]
                w.writePhysicalSamples(np.ascontiguousarray(s[k * rate : (k + 1) * rate]))
        w.writeAnnotation(2.5, 1.25, "artefact")
        w.writeAnnotation(7.0, -1, "PVC")
        w.writeAnnotation(11.0, 0.5, "electrode check")


def big(out, channels, minutes, rate):
    eeg, _ = read_all("phyaat_eeg14.edf")
    n = int(minutes * 60 * rate)
    src = np.stack(eeg)  # 14 x 2048 at 128 Hz: tile it to the asked length and rate
    base = np.resize(src, (src.shape[0], n))
    sigs = [base[i % 14] + (i // 14) * 0.5 for i in range(channels)]
    heads = [header(f"EEG{i:02d}", "uV", rate, s) for i, s in enumerate(sigs)]
    with pyedflib.EdfWriter(out, channels, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders(heads)
        w.writeSamples(sigs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["mixed", "big"])
    ap.add_argument("out")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--rate", type=int, default=256)
    a = ap.parse_args()
    if a.kind == "mixed":
        mixed(a.out)
    else:
        big(a.out, a.channels, a.minutes, a.rate)


if __name__ == "__main__":
    main()
