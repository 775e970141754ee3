#!/usr/bin/env python3
"""h5py side of biowave's HDF5 tests.

    h5_check.py make DIR
        writes HDF5 files with h5py from the real recordings in signals/: 2-D samples x
        channels (contiguous, vlen string labels/units), channels x samples in a group
        (chunked + gzip, float64, `fs`), int16 with scale/offset (`sfreq`), and bad ones:
        no rate, rank 1, a NaN, a truncated file; annotations with a NaN onset, and ones
        whose onset and text lengths differ.
    h5_check.py compare FILE DUMP [--dataset D] [--channels-first] [--record R]
        reads FILE with h5py and compares it with what biowave read (DUMP: meta.json +
        ch{i}.f32, see tests/common): values (scaled like biowave), labels, units, rate,
        and /annotations when present. Prints the max |diff|; exits 1 on a mismatch.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import pyedflib

SIGNALS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "signals")
STR = h5py.string_dtype()


def real_eeg():
    with pyedflib.EdfReader(os.path.join(SIGNALS, "phyaat_eeg14.edf")) as f:
        labels = f.getSignalLabels()
        x = np.stack([f.readSignal(i) for i in range(f.signals_in_file)], axis=1)
    return x, labels


def make(d):
    x, labels = real_eeg()  # 2048 x 14 at 128 Hz, uV
    with h5py.File(os.path.join(d, "a2d.h5"), "w") as f:
        ds = f.create_dataset("eeg", data=x.astype(np.float32))
        ds.attrs["sample_rate"] = 128
        ds.attrs["labels"] = np.array(labels, dtype=STR)
        ds.attrs["units"] = np.array(["uV"] * len(labels), dtype=STR)
    with h5py.File(os.path.join(d, "cs.h5"), "w") as f:
        f.create_dataset("notes", data=np.arange(3))  # 1-D: skipped by discovery
        g = f.create_group("grp")
        ds = g.create_dataset("eeg", data=x.T.copy(), chunks=(14, 256), compression="gzip")
        ds.attrs["fs"] = 128.0
    with h5py.File(os.path.join(d, "i16.h5"), "w") as f:
        q = np.round(x / 0.05).astype(np.int16)
        ds = f.create_dataset("raw", data=q, chunks=(512, 14), compression="gzip")
        ds.attrs["sfreq"] = 128
        ds.attrs["scale"] = 0.05
        ds.attrs["offset"] = 1.5
        ds.attrs["leads"] = np.array(labels, dtype=STR)
    # Long enough (> 2 M values) that biowave reads it with several threads; chunk sizes
    # that do not divide biowave's slabs, so reads start and end inside chunks.
    big = np.concatenate([x * (1 + 0.01 * k) for k in range(80)])  # 163840 x 14
    with h5py.File(os.path.join(d, "big.h5"), "w") as f:
        ds = f.create_dataset("eeg", data=big.astype(np.float32), chunks=(1000, 14))
        ds.attrs["sample_rate"] = 128
        ds.attrs["labels"] = np.array(labels, dtype=STR)
    with h5py.File(os.path.join(d, "bigcs.h5"), "w") as f:
        q = np.round(big.T / 0.05).astype(np.int16)
        ds = f.create_dataset("raw", data=q, chunks=(7, 3000), compression="gzip")
        ds.attrs["fs"] = 128
        ds.attrs["scale"] = 0.05
    with h5py.File(os.path.join(d, "nofs.h5"), "w") as f:
        f.create_dataset("x", data=x.astype(np.float32))
    with h5py.File(os.path.join(d, "rank1.h5"), "w") as f:
        ds = f.create_dataset("x", data=x[:, 0])
        ds.attrs["fs"] = 128
    with h5py.File(os.path.join(d, "nan.h5"), "w") as f:
        y = x.astype(np.float32)
        y[100, 2] = np.nan
        ds = f.create_dataset("x", data=y)
        ds.attrs["fs"] = 128
    # Annotations as biowave writes them, one without an onset; and lengths that differ.
    for name, onset, text in [("notes.h5", [1.0, np.nan, 3.0], ["a", "b", "c"]),
                              ("ragged.h5", [1.0, 2.0], ["a", "b", "c"])]:
        with h5py.File(os.path.join(d, name), "w") as f:
            ds = f.create_dataset("signals", data=x.astype(np.float32))
            ds.attrs["sample_rate"] = 128
            g = f.create_group("annotations")
            g.create_dataset("onset", data=np.array(onset))
            g.create_dataset("duration", data=np.array([np.nan] * (len(onset) - 1) + [0.5]))
            g.create_dataset("text", data=np.array(text, dtype=STR))
    with open(os.path.join(d, "a2d.h5"), "rb") as src:
        head = src.read(700)
    with open(os.path.join(d, "corrupt.h5"), "wb") as dst:
        dst.write(head)


def compare(a):
    with open(os.path.join(a.dump, "meta.json")) as f:
        meta = json.load(f)
    chans = meta["channels"]
    dump = [np.fromfile(os.path.join(a.dump, f"ch{i}.f32"), dtype="<f4").astype(np.float64)
            for i in range(len(chans))]
    fail = []
    with h5py.File(a.file, "r") as f:
        name = a.dataset or next(k for k in ("signals", "tracings") if k in f)
        ds = f[name]
        x = ds[a.record] if ds.ndim == 3 else ds[()]
        x = x.astype(np.float64)
        if ds.dtype.kind in "iu":
            x = x * float(ds.attrs.get("scale", ds.attrs.get("gain", 1.0))) + float(ds.attrs.get("offset", 0.0))
        if a.channels_first:
            x = x.T
        labels = [str(v) for v in ds.attrs.get("labels", ds.attrs.get("leads", []))]
        units = [str(v) for v in ds.attrs.get("units", [])]
        rate = next((float(ds.attrs[k]) for k in ("sample_rate", "fs", "sfreq") if k in ds.attrs), None)
        ann = None
        if "annotations" in f:
            g = f["annotations"]
            ann = [(float(o), None if np.isnan(d) else float(d), t.decode() if isinstance(t, bytes) else str(t))
                   for o, d, t in zip(g["onset"][()], g["duration"][()], g["text"][()])]
    if x.shape[1] != len(chans):
        fail.append(f"{x.shape[1]} channels in h5py, biowave {len(chans)}")
    worst = 0.0
    for i, c in enumerate(chans[: x.shape[1]]):
        ref = x[:, i]
        if ref.size != dump[i].size:
            fail.append(f"channel {i}: {ref.size} samples vs {dump[i].size}")
            continue
        d = float(np.max(np.abs(ref - dump[i]))) if ref.size else 0.0
        tol = 1e-6 * max(1.0, float(np.max(np.abs(ref))))
        worst = max(worst, d)
        if d > tol:
            fail.append(f"channel {i}: max |diff| {d} > {tol}")
        if labels and labels[i] != c["label"]:
            fail.append(f"channel {i} label {labels[i]!r} vs {c['label']!r}")
        if units and units[i] != c["unit"]:
            fail.append(f"channel {i} unit {units[i]!r} vs {c['unit']!r}")
        if rate is not None and abs(rate - c["sample_rate"]) > 1e-9:
            fail.append(f"rate {rate} vs {c['sample_rate']}")
    if ann is not None:
        want = [(w[0], w[1], w[2]) for w in meta["annotations"]]
        if sorted(ann, key=str) != sorted(want, key=str):
            fail.append(f"annotations {ann} vs {want}")
    print(f"h5py vs biowave: {len(chans)} channels x {x.shape[0]} samples, max |diff| {worst:.3g}")
    if fail:
        print("MISMATCH\n" + "\n".join(fail[:20]))
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    c = sub.add_parser("compare")
    c.add_argument("file")
    c.add_argument("dump")
    c.add_argument("--dataset")
    c.add_argument("--channels-first", action="store_true")
    c.add_argument("--record", type=int, default=0)
    a = ap.parse_args()
    make(a.dir) if a.cmd == "make" else compare(a)


if __name__ == "__main__":
    main()
