#!/usr/bin/env python3
"""Cross-checks an EDF/BDF file against an expectation dumped by biowave.

    edf_check.py FILE DUMP_DIR [--tol float|quant] [--mne]

DUMP_DIR holds `meta.json` (channels with label, unit, sample_rate, n_samples; duration_s;
annotations [[onset, duration|null, text], ...]) and `ch{i}.f32` (little-endian float32
samples of channel i). The file is read independently with pyedflib and edfio (and MNE
with --mne); every reader must agree with the dump on channel count, labels, units, rates,
sample counts, annotations and values. Values must match to float precision
(`--tol float`, for files biowave read) or within one quantisation step of the file
(`--tol quant`, for files biowave wrote from float data).

Prints one line per reader with the largest difference; exits 1 on any mismatch.
"""
import argparse
import json
import os
import sys

import numpy as np


def load_dump(d):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    data = [
        np.fromfile(os.path.join(d, f"ch{i}.f32"), dtype="<f4").astype(np.float64)
        for i in range(len(meta["channels"]))
    ]
    return meta, data


class Checker:
    def __init__(self, meta, data, tol_kind):
        self.meta, self.data, self.tol_kind = meta, data, tol_kind
        self.failures = []

    def fail(self, reader, msg):
        self.failures.append(f"{reader}: {msg}")

    def tolerance(self, i, quant_step):
        ref = self.data[i]
        scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
        if self.tol_kind == "quant":
            # One step of the written digital grid, plus float32 rounding of the input.
            return quant_step * 1.0001 + 1e-6 * scale
        # Reading: both sides compute digital*gain+offset; biowave stores float32.
        return 2e-6 * scale + quant_step * 1e-6

    def channels(self, reader, labels, units, rates, signals, steps):
        chans = self.meta["channels"]
        if len(labels) != len(chans):
            self.fail(reader, f"{len(labels)} channels, biowave {len(chans)}")
            return
        worst = 0.0
        for i, c in enumerate(chans):
            if labels[i].strip() != c["label"].strip():
                self.fail(reader, f"channel {i} label {labels[i]!r} vs {c['label']!r}")
            if units is not None and units[i].strip() != c["unit"].strip():
                self.fail(reader, f"channel {i} unit {units[i]!r} vs {c['unit']!r}")
            if abs(rates[i] - c["sample_rate"]) > 1e-9 * c["sample_rate"]:
                self.fail(reader, f"channel {i} rate {rates[i]} vs {c['sample_rate']}")
            x, ref = np.asarray(signals[i], dtype=np.float64), self.data[i]
            if x.size != ref.size:
                self.fail(reader, f"channel {i}: {x.size} samples vs {ref.size}")
                continue
            if ref.size == 0:
                continue
            d = float(np.max(np.abs(x - ref)))
            tol = self.tolerance(i, steps[i])
            worst = max(worst, d / tol if tol > 0 else d)
            if d > tol:
                k = int(np.argmax(np.abs(x - ref)))
                self.fail(reader, f"channel {i} sample {k}: {x[k]} vs {ref[k]} (|d| {d:.3g} > {tol:.3g})")
        print(f"{reader}: {len(labels)} channels, max |diff| / tolerance = {worst:.3g}")

    def annotations(self, reader, got):
        want = [(a[0], a[1], a[2]) for a in self.meta["annotations"]]
        got = sorted(got, key=lambda a: (a[0], a[2]))
        want = sorted(want, key=lambda a: (a[0], a[2]))
        if len(got) != len(want):
            self.fail(reader, f"{len(got)} annotations, biowave {len(want)}: {got[:3]} vs {want[:3]}")
            return
        for (go, gd, gt), (wo, wd, wt) in zip(got, want):
            if abs(go - wo) > 1e-6 or gt.strip() != wt.strip():
                self.fail(reader, f"annotation ({go}, {gt!r}) vs ({wo}, {wt!r})")
            if (wd or 0.0) > 0 and abs((gd or 0.0) - wd) > 1e-6:
                self.fail(reader, f"annotation {gt!r} duration {gd} vs {wd}")


def check_pyedflib(path, ck):
    import pyedflib

    with pyedflib.EdfReader(path) as f:
        n = f.signals_in_file
        labels = f.getSignalLabels()
        units = [f.getPhysicalDimension(i) for i in range(n)]
        rates = [f.getSampleFrequency(i) for i in range(n)]
        signals = [f.readSignal(i) for i in range(n)]
        steps = [
            (f.getPhysicalMaximum(i) - f.getPhysicalMinimum(i))
            / (f.getDigitalMaximum(i) - f.getDigitalMinimum(i))
            for i in range(n)
        ]
        on, du, tx = f.readAnnotations()
        dur = f.getFileDuration()
    ck.channels("pyedflib", labels, units, rates, signals, steps)
    ann = [(float(o), None if d < 0 else float(d), str(t)) for o, d, t in zip(on, du, tx)]
    ck.annotations("pyedflib", ann)
    if abs(dur - ck.meta["duration_s"]) > 1e-6:
        ck.fail("pyedflib", f"duration {dur} vs {ck.meta['duration_s']}")


def check_edfio(path, ck):
    import edfio

    reader = edfio.read_bdf if path.lower().endswith(".bdf") else edfio.read_edf
    e = reader(path)
    sigs = e.signals
    labels = [s.label for s in sigs]
    units = [s.physical_dimension for s in sigs]
    rates = [s.sampling_frequency for s in sigs]
    steps = [
        (s.physical_range.max - s.physical_range.min) / (s.digital_range.max - s.digital_range.min)
        for s in sigs
    ]
    ck.channels("edfio", labels, units, rates, [s.data for s in sigs], steps)
    ck.annotations("edfio", [(a.onset, a.duration, a.text) for a in e.annotations])


def check_mne(path, ck):
    import mne

    mne.set_log_level("ERROR")
    read = mne.io.read_raw_bdf if path.lower().endswith(".bdf") else mne.io.read_raw_edf
    raw = read(path, preload=True)
    data = raw.get_data()  # volts for voltage units
    chans = ck.meta["channels"]
    scale = {"uV": 1e6, "µV": 1e6, "mV": 1e3, "V": 1.0}
    signals = [data[i] * scale.get(c["unit"], 1.0) for i, c in enumerate(chans[: data.shape[0]])]
    rates = [raw.info["sfreq"]] * data.shape[0]
    # MNE does not expose the digital range: read it from the header (EDF layout).
    with open(path, "rb") as f:
        head = f.read(256)
        ns = int(head[252:256])
        head += f.read(256 * ns)
    off = 256
    pmin = [float(head[off + ns * 104 + 8 * i : off + ns * 104 + 8 * i + 8]) for i in range(ns)]
    pmax = [float(head[off + ns * 112 + 8 * i : off + ns * 112 + 8 * i + 8]) for i in range(ns)]
    dmin = [float(head[off + ns * 120 + 8 * i : off + ns * 120 + 8 * i + 8]) for i in range(ns)]
    dmax = [float(head[off + ns * 128 + 8 * i : off + ns * 128 + 8 * i + 8]) for i in range(ns)]
    steps = [(pmax[i] - pmin[i]) / (dmax[i] - dmin[i]) for i in range(ns)][: data.shape[0]]
    ck.channels("mne", raw.ch_names, None, rates, signals, steps)
    ann = [(float(a["onset"]), float(a["duration"]) or None, a["description"]) for a in raw.annotations]
    ck.annotations("mne", ann)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("dump")
    ap.add_argument("--tol", choices=["float", "quant"], default="float")
    ap.add_argument("--mne", action="store_true")
    a = ap.parse_args()
    meta, data = load_dump(a.dump)
    ck = Checker(meta, data, a.tol)
    check_pyedflib(a.file, ck)
    check_edfio(a.file, ck)
    if a.mne:
        check_mne(a.file, ck)
    if ck.failures:
        print("MISMATCH\n" + "\n".join(ck.failures[:20]))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
