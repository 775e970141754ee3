#!/usr/bin/env python3
"""Prints what pyedflib sees in an EDF/BDF file, as one JSON line, for tests of files the
biowave binary wrote (stream file sinks, bulk generate).

    edf_summary.py FILE [--sine HZ]

JSON keys: n_records, record_duration, labels, units, rates, n_samples, annotations
([onset, duration, text]), min, max (per channel), and with --sine data_samples (up to an
"end of data" mark) and the largest |x - sin(2π·HZ·t)| over them on channel 0.
"""
import argparse
import json

import numpy as np
import pyedflib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--sine", type=float)
    a = ap.parse_args()
    with pyedflib.EdfReader(a.file) as f:
        n = f.signals_in_file
        sigs = [f.readSignal(i) for i in range(n)]
        out = {
            "n_records": f.datarecords_in_file,
            "record_duration": f.datarecord_duration,
            "labels": f.getSignalLabels(),
            "units": [f.getPhysicalDimension(i) for i in range(n)],
            "rates": [f.getSampleFrequency(i) for i in range(n)],
            "n_samples": [int(s.size) for s in sigs],
            "annotations": [[float(o), float(d), str(t)] for o, d, t in zip(*f.readAnnotations())],
            "min": [float(s.min()) for s in sigs],
            "max": [float(s.max()) for s in sigs],
        }
        if a.sine is not None:
            # Up to the "end of data" mark, when the writer padded the last record.
            ends = [o for o, _, t in out["annotations"] if t.startswith("end of data")]
            fs = f.getSampleFrequency(0)
            n = int(round(ends[0] * fs)) if ends else sigs[0].size
            t = np.arange(n) / fs
            out["data_samples"] = n
            out["sine_err"] = float(np.max(np.abs(sigs[0][:n] - np.sin(2 * np.pi * a.sine * t))))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
