#!/usr/bin/env python3
"""Reading a ~200 MB float32 HDF5 dataset: biowave vs h5py in one run, ratio printed.

    python3 scripts/bench_h5_read.py [--mb 200] [--gzip]

h5py writes `signals` (samples x 64 channels, chunked, attrs sample_rate/labels/units);
each reader then loads every sample into memory (best of 3 in one process), and the first
read of a fresh process is timed too (its memory is new, so page faults weigh more: numpy
asks for transparent huge pages, Rust's Vecs get 4 KiB pages). biowave's time is measured by
examples/read_bench (io::read: channel-major f32 Vecs, the layout the engine uses).
"""
import argparse
import os
import subprocess
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLD_H5PY = """
import sys, time, h5py
t0 = time.perf_counter()
with h5py.File(sys.argv[1], "r") as f:
    f["signals"][()]
print(time.perf_counter() - t0)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--gzip", action="store_true")
    a = ap.parse_args()
    ch = 64
    n = int(a.mb * 1e6 / 4 / ch)
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "read_bench"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.h5")
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((n, ch)) * 20).astype(np.float32)
        with h5py.File(path, "w") as f:
            ds = f.create_dataset("signals", data=x, chunks=(4096, ch),
                                  compression="gzip" if a.gzip else None)
            ds.attrs["sample_rate"] = 256.0
            ds.attrs["labels"] = np.array([f"EEG{i:02d}" for i in range(ch)], dtype=h5py.string_dtype())
            ds.attrs["units"] = np.array(["uV"] * ch, dtype=h5py.string_dtype())
        del x
        mb = n * ch * 4 / 1e6
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            with h5py.File(path, "r") as f:
                f["signals"][()]
            best = min(best, time.perf_counter() - t0)
        cold_py = float(subprocess.run(["python3", "-c", COLD_H5PY, path], check=True,
                                       capture_output=True, text=True).stdout)
        out = subprocess.run([os.path.join(ROOT, "target/release/examples/read_bench"), path, "3"],
                             check=True, capture_output=True, text=True).stdout.split()
        bw, cold_bw = float(out[0]), float(out[2])
        kind = "gzip" if a.gzip else "uncompressed"
        print(f"dataset: {n} x {ch} float32, chunked {kind}, {mb:.0f} MB")
        print(f"h5py:    {best:.3f} s ({mb / best:.0f} MB/s)")
        print(f"biowave: {bw:.3f} s ({mb / bw:.0f} MB/s), {out[1]} samples")
        print(f"ratio biowave vs h5py: {best / bw:.2f}x")
        print(f"first read in a fresh process: h5py {cold_py:.3f} s, biowave {cold_bw:.3f} s, "
              f"ratio {cold_py / cold_bw:.2f}x")


if __name__ == "__main__":
    main()
